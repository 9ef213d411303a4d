package sim

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// WriteLockerctlConfig writes a configuration for lockerctl, the operator CLI, that
// acts as the simulated fleet on the embedded broker: the fleet's key files, the cloud
// account's password in a file, and the lockers pinned with their public keys
// (locker id -> x25519_public, as `lockerd identity` prints it). It returns the path.
func WriteLockerctlConfig(dir string, c *Cloud, broker, password string, lockers map[string]string) (string, error) {
	signing, x25519, err := c.WriteKeyFiles(dir)
	if err != nil {
		return "", err
	}
	pw := filepath.Join(dir, "cloud-password")
	if err := os.WriteFile(pw, []byte(password+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("sim: %w", err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# lockerctl acting as the simulated fleet (written by locker-sim)\nbroker: %s\nusername: %s\npassword_file: %s\n"+
		"signing_key: %s\nx25519_key: %s\nlockers:\n", broker, CloudUser, pw, signing, x25519)
	for id, pub := range lockers {
		fmt.Fprintf(&b, "  %s: %s\n", id, pub)
	}
	path := filepath.Join(dir, "lockerctl.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return "", fmt.Errorf("sim: %w", err)
	}
	return path, nil
}
