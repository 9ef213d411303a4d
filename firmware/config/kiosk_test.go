package config

import (
	"net"
	"strings"
	"testing"

	"github.com/lockerd/lockerd/firmware/kiosk"
)

func TestKioskSection(t *testing.T) {
	cases := []struct {
		name    string
		section string // appended to the example
		addr    string
		lang    kiosk.Lang
		err     string
	}{
		{name: "absent: the default address", addr: kiosk.DefaultListen, lang: kiosk.English},
		{name: "empty turns it off", section: "kiosk: {listen: \"\"}", addr: "", lang: kiosk.English},
		{name: "another loopback port", section: "kiosk: {listen: \"127.0.0.1:9000\", language: zh-Hans}", addr: "127.0.0.1:9000", lang: kiosk.Chinese},
		{name: "ipv6 loopback", section: "kiosk: {listen: \"[::1]:8080\"}", addr: "[::1]:8080", lang: kiosk.English},
		{name: "localhost", section: "kiosk: {listen: \"localhost:8080\", language: en}", addr: "localhost:8080", lang: kiosk.English},
		{name: "every address refused", section: "kiosk: {listen: \"0.0.0.0:8080\"}", err: "kiosk.listen (line"},
		{name: "a LAN address refused", section: "kiosk: {listen: \"192.168.1.20:8080\"}", err: "must be a loopback address"},
		{name: "no port refused", section: "kiosk: {listen: \"127.0.0.1\"}", err: "kiosk.listen"},
		{name: "unknown language", section: "kiosk: {language: fr}", err: "kiosk.language (line"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(example(t) + "\n" + tc.section + "\n"))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Kiosk.Addr() != tc.addr || c.Kiosk.Lang() != tc.lang {
				t.Fatalf("addr %q lang %q, want %q %q", c.Kiosk.Addr(), c.Kiosk.Lang(), tc.addr, tc.lang)
			}
		})
	}
}

func FuzzLoopbackAddr(f *testing.F) {
	for _, s := range []string{"127.0.0.1:8080", "[::1]:0", "localhost:1", "0.0.0.0:80", "[fe80::1%eth0]:80", "127.1:80", ":80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !LoopbackAddr(s) {
			return
		}
		host, _, err := net.SplitHostPort(s)
		if err != nil {
			t.Fatalf("%q accepted but not host:port: %v", s, err)
		}
		if host != "localhost" && !strings.HasPrefix(host, "127.") && host != "::1" && !strings.HasPrefix(host, "::ffff:127.") {
			t.Fatalf("%q accepted with host %q", s, host)
		}
	})
}
