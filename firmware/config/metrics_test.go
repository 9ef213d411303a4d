package config

import (
	"strings"
	"testing"
)

// TestMetricsListen: metrics.listen takes loopback addresses only, since the page has
// no authentication.
func TestMetricsListen(t *testing.T) {
	for listen, ok := range map[string]bool{
		"127.0.0.1:9464": true, "localhost:9464": true, "[::1]:9464": true, "127.0.0.1:0": true,
		"0.0.0.0:9464": false, ":9464": false, "192.168.1.20:9464": false, "127.0.0.1": false, "metrics.example:9464": false,
	} {
		cfg, err := Parse([]byte(example(t) + "\nmetrics:\n  listen: \"" + listen + "\"\n"))
		switch {
		case ok && err != nil:
			t.Errorf("%s refused: %v", listen, err)
		case ok && cfg.Metrics.Listen != listen:
			t.Errorf("%s read as %q", listen, cfg.Metrics.Listen)
		case !ok && (err == nil || !strings.Contains(err.Error(), "metrics.listen") || !strings.Contains(err.Error(), "loopback")):
			t.Errorf("%s: %v, want a metrics.listen error naming loopback", listen, err)
		}
	}
}
