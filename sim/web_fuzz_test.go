package sim

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzWebGuard: whatever a client sends as Host, Origin, Sec-Fetch-Site, method and
// content type, the guard lets a request through exactly when it comes from the page
// itself on its loopback address (or from a non-browser client on it: no Origin).
func FuzzWebGuard(f *testing.F) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	self := "127.0.0.1:" + port
	f.Add("GET", self, "", "", "")
	f.Add("POST", self, "http://"+self, "same-origin", "application/json")
	f.Add("POST", "localhost:"+port, "http://localhost:"+port, "", "application/json")
	f.Add("POST", self, "http://evil.example", "cross-site", "text/plain")
	f.Add("GET", "evil.example:"+port, "", "none", "")
	f.Add("POST", self, "null", "", "application/json")
	f.Add("PUT", self, "https://"+self, "same-site", "application/json")
	w := &Web{ln: ln}
	passed := false
	h := w.guard(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { passed = true }))
	f.Fuzz(func(t *testing.T, method, host, origin, site, ctype string) {
		req, err := http.NewRequest(method, "http://"+self+"/", nil)
		if err != nil {
			return // not a method net/http would parse either
		}
		req.Host = host
		req.Header.Set("Origin", origin)
		req.Header.Set("Sec-Fetch-Site", site)
		req.Header.Set("Content-Type", ctype)
		passed = false
		h.ServeHTTP(httptest.NewRecorder(), req)
		ok := func(hp string) bool { return hp == self || hp == "localhost:"+port || hp == "[::1]:"+port }
		want := ok(host) && (origin == "" || len(origin) > 7 && origin[:7] == "http://" && ok(origin[7:])) &&
			(site == "" || site == "same-origin" || site == "none") &&
			(method == "GET" || method == "POST" && ctype == "application/json")
		if passed != want {
			t.Fatalf("%s host %q origin %q site %q type %q: passed %v, want %v", method, host, origin, site, ctype, passed, want)
		}
	})
}
