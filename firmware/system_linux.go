package firmware

import (
	"context"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// hardenProcess makes the daemon undumpable: no core file, no ptrace by other users,
// so that codes and PINs held in RAM for microseconds cannot be lifted from a crash.
func hardenProcess(log *slog.Logger) {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		log.Warn("cannot disable core dumps", "err", err)
	}
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{}); err != nil {
		log.Warn("cannot limit core size", "err", err)
	}
}

// sdNotify sends a state line to systemd when run as a Type=notify service.
func sdNotify(state string) {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return
	}
	if addr[0] == '@' {
		addr = "\x00" + addr[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return
	}
	defer c.Close()
	c.Write([]byte(state))
}

// watchdog pings systemd at half the WatchdogSec interval, but only while healthy
// says the station's loop is alive: a wedged station is restarted by systemd.
func watchdog(ctx context.Context, healthy func(time.Duration) bool) error {
	usec, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		<-ctx.Done()
		return nil
	}
	every := time.Duration(usec) * time.Microsecond / 2
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if healthy(every) {
				sdNotify("WATCHDOG=1")
			}
		}
	}
}
