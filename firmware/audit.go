package firmware

import (
	"log/slog"

	"github.com/lockerd/lockerd/firmware/config"
	"github.com/lockerd/lockerd/locker/store/boltstore"
)

// VerifyAudit opens the station's store read-only (lockerd must be stopped, or the open
// waits for its lock) and verifies the audit chain, with the audit key from the key
// store the config names (unsealed by the TPM with keys: tpm).
func VerifyAudit(cfg *config.Config) (int, error) {
	keys, err := openKeys(cfg, slog.Default(), nil, true)
	if err != nil {
		return 0, err
	}
	defer keys.Close()
	return boltstore.VerifyAuditFile(StorePath(cfg), keys.Store.AuditKey())
}
