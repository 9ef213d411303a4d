package config

import (
	"net"
	"net/netip"
	"strconv"

	"github.com/lockerd/lockerd/firmware/kiosk"
)

// Kiosk is the locker's touch screen (docs/kiosk.md): a page lockerd serves on
// loopback for a browser in kiosk mode.
type Kiosk struct {
	// Listen is the loopback address the page is served on: absent means
	// kiosk.DefaultListen, an empty string turns the kiosk off.
	Listen *string `yaml:"listen"`
	// Language is the screen's default language, "en" (default) or "zh-Hans".
	Language string `yaml:"language"`
}

// Addr is the address to serve the kiosk on, "" when it is off.
func (k Kiosk) Addr() string {
	if k.Listen == nil {
		return kiosk.DefaultListen
	}
	return *k.Listen
}

// Lang is the default language.
func (k Kiosk) Lang() kiosk.Lang {
	l, ok := kiosk.ParseLang(k.Language)
	if !ok {
		return kiosk.English
	}
	return l
}

// kiosk checks the kiosk section: a loopback address only, since its endpoints give
// whoever reaches them a keypad person's rights (docs/adr/0063-kiosk.md).
func (v *validator) kiosk(k Kiosk) {
	if addr := k.Addr(); addr != "" && !LoopbackAddr(addr) {
		v.fail("kiosk.listen", "must be a loopback address and port such as %s (or \"\" to turn the kiosk off), not %q", kiosk.DefaultListen, addr)
	}
	if k.Language != "" {
		if _, ok := kiosk.ParseLang(k.Language); !ok {
			v.fail("kiosk.language", "must be en or zh-Hans, not %q", k.Language)
		}
	}
}

// LoopbackAddr reports whether addr is host:port with a loopback IP or localhost as
// host and a port (0 picks one).
func LoopbackAddr(addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Zone() == "" && ip.IsLoopback()
}
