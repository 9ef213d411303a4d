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
	if err := writeSecret(pw, []byte(password+"\n")); err != nil {
		return "", fmt.Errorf("sim: %w", err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# lockerctl acting as the simulated fleet (written by locker-sim)\nbroker: %s\nusername: %s\npassword_file: %s\n"+
		"signing_key: %s\nx25519_key: %s\nlockers:\n", broker, CloudUser, pw, signing, x25519)
	for id, pub := range lockers {
		fmt.Fprintf(&b, "  %s: %s\n", id, pub)
	}
	path := filepath.Join(dir, "lockerctl.yaml")
	if err := writeSecret(path, []byte(b.String())); err != nil {
		return "", fmt.Errorf("sim: %w", err)
	}
	return path, nil
}

// writeSecret writes a new file of mode 0600 at path, replacing whatever was there
// (os.WriteFile keeps an existing file's mode, and follows a link).
func writeSecret(path string, data []byte) error {
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	if err := f.Close(); werr == nil {
		werr = err
	}
	return werr
}
