package serialport

import (
	"errors"

	"go.bug.st/serial"
)

// Open takes path's device lock (Acquire), then opens the port with mode. Closing the
// port releases the lock. A port the kernel reports busy (another program opened it
// exclusively) fails with ErrInUse, as a held lock does.
func Open(path string, mode *serial.Mode) (serial.Port, error) {
	l, err := Acquire(path)
	if err != nil {
		return nil, err
	}
	p, err := serial.Open(path, mode)
	if err != nil {
		_ = l.Release()
		var pe *serial.PortError
		if errors.As(err, &pe) && pe.Code() == serial.PortBusy {
			return nil, &InUseError{Device: l.Device, Exclusive: true}
		}
		return nil, err
	}
	return &lockedPort{Port: p, lock: l}, nil
}

// lockedPort is an open port holding its device's lock until Close.
type lockedPort struct {
	serial.Port
	lock *Lock
}

func (p *lockedPort) Close() error {
	err := p.Port.Close()
	return errors.Join(err, p.lock.Release())
}
