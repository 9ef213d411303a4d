package gpiodoor

import (
	"context"
	"fmt"
	"log/slog"

	"periph.io/x/host/v3"
)

// HostDriver is one periph host driver's outcome.
type HostDriver struct {
	Name   string
	Load   Load
	Reason string // why skipped or failed
}

// InitHost initialises periph's host drivers (gpioioctl among them), logs
// and returns what each one did. It succeeds on a machine without GPIO
// chips and then registers no pins: gpioreg.ByName returns nil, which Open
// reports per door as Failed. Calling it again returns the same result.
func InitHost(log *slog.Logger) ([]HostDriver, error) {
	if log == nil {
		log = slog.Default()
	}
	st, err := host.Init()
	if err != nil {
		return nil, fmt.Errorf("gpiodoor: periph host init: %w", err)
	}
	var out []HostDriver
	for _, d := range st.Loaded {
		out = append(out, HostDriver{Name: d.String(), Load: Loaded})
	}
	for _, f := range st.Skipped {
		out = append(out, HostDriver{Name: f.D.String(), Load: Skipped, Reason: errString(f.Err)})
	}
	for _, f := range st.Failed {
		out = append(out, HostDriver{Name: f.D.String(), Load: Failed, Reason: errString(f.Err)})
	}
	for _, d := range out {
		lvl := slog.LevelDebug
		if d.Load == Failed {
			lvl = slog.LevelWarn
		}
		log.Log(context.Background(), lvl, "gpiodoor: host driver", "driver", d.Name, "load", d.Load.String(), "reason", d.Reason)
	}
	return out, nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
