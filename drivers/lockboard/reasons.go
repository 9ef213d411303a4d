package lockboard

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"time"

	"github.com/lockerd/lockerd/drivers/serialport"
)

// Health reasons are read by a technician (hwtest, the health event, the journal's
// "bus fault" line): they name the bus by its configured port and say what happened in
// words, not the system call that noticed it. The log keeps the error itself.

// openReason says why the port could not be opened. ever: it was open before, so a
// missing device is an unplugged one.
func (b *Bus) openReason(err error, ever bool) string {
	path := b.cfg.Path
	var inUse *serialport.InUseError
	switch {
	case errors.As(err, &inUse):
		return fmt.Sprintf("lock board bus %s is %s", path, inUse.By())
	case errors.Is(err, fs.ErrNotExist) && ever:
		return fmt.Sprintf("lock board bus %s unplugged", path)
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("lock board bus %s not found: not plugged in, or another port in the config", path)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Sprintf("lock board bus %s: permission denied (lockerd's user needs the dialout group)", path)
	}
	return fmt.Sprintf("lock board bus %s cannot be opened: %v", path, err)
}

// lostReason says why an open port was given up.
func (b *Bus) lostReason(err error) string {
	path := b.cfg.Path
	if unplugged(err) {
		return fmt.Sprintf("lock board bus %s unplugged", path)
	}
	if _, serr := os.Stat(path); errors.Is(serr, fs.ErrNotExist) {
		return fmt.Sprintf("lock board bus %s unplugged", path)
	}
	var pe *portError
	if errors.As(err, &pe) {
		err = pe.err
	}
	return fmt.Sprintf("lock board bus %s failed: %v", path, err)
}

// unplugged reports an I/O error the kernel gives on a serial device whose adapter is
// gone (or a pty whose master end was closed).
func unplugged(err error) bool {
	return errors.Is(err, syscall.EIO) || errors.Is(err, syscall.ENXIO) || errors.Is(err, syscall.ENODEV)
}

// silentReason says that no board answers on an open port, and since when.
func (b *Bus) silentReason(lastAnswer, opened time.Time) string {
	if lastAnswer.IsZero() {
		return fmt.Sprintf("no board answered on %s since it was opened at %s", b.cfg.Path, opened.Format(time.DateTime))
	}
	return fmt.Sprintf("no board answered on %s since %s", b.cfg.Path, lastAnswer.Format(time.DateTime))
}
