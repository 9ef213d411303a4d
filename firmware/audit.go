package firmware

import (
	"github.com/lockerd/lockerd/firmware/config"
	"github.com/lockerd/lockerd/locker/store/boltstore"
)

// VerifyAudit opens the station's store read-only (lockerd must be stopped, or the open
// waits for its lock) and verifies the audit chain.
func VerifyAudit(cfg *config.Config) (int, error) {
	_, keys, err := Secrets(cfg)
	if err != nil {
		return 0, err
	}
	return boltstore.VerifyAuditFile(StorePath(cfg), keys.AuditKey())
}
