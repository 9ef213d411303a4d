package control

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/lockerd/lockerd/locker"
)

// TestUnroutedAnswersAreErrorReplies is the regression test of a gap the control
// API's document found: a path the server does not have and a method a path does
// not take were answered by the mux in text/plain ("404 page not found"), though
// ErrorReply is documented as the body of every non-2xx answer. They are JSON now,
// with reasons not_found and method_not_allowed, through the real socket; the
// client sees the reason rather than "http".
func TestUnroutedAnswersAreErrorReplies(t *testing.T) {
	ctx := context.Background()
	f := newAPI(t, false) // admin off: the admin paths do not exist
	for _, tc := range []struct {
		name, method, path string
		status             int
		reason, allow      string
	}{
		{"unknown path", "GET", "/v1/nothing", http.StatusNotFound, "not_found", ""},
		{"admin path, admin off", "POST", PathAnnounce, http.StatusNotFound, "not_found", ""},
		{"GET of a POST path", "GET", PathPickup, http.StatusMethodNotAllowed, "method_not_allowed", "POST"},
		{"POST of a GET path", "POST", PathStatus, http.StatusMethodNotAllowed, "method_not_allowed", "GET"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := f.client.call(ctx, tc.method, tc.path, nil, nil)
			var e *Error
			if !errors.As(err, &e) || e.Status != tc.status || e.Reason != tc.reason {
				t.Fatalf("%s %s: %#v, want %d %s", tc.method, tc.path, err, tc.status, tc.reason)
			}
			if tc.allow != "" {
				resp := rawCall(t, f, tc.method, tc.path)
				if got := resp.Header.Get("Allow"); got != tc.allow {
					t.Fatalf("Allow %q, want %q", got, tc.allow)
				}
			}
		})
	}
}

// rawCall sends a request without a body through the fixture's socket and returns
// the answer with its headers.
func rawCall(t *testing.T, f *apiFixture, method, path string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, "http://lockerd"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := f.client.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestThrottledAlwaysCarriesItsWait is the regression test of an edge the document
// found: under a millisecond left, retry_after_ms was 0 and so left out, though a 429
// documents it as required. It is rounded up now.
func TestThrottledAlwaysCarriesItsWait(t *testing.T) {
	for _, tc := range []struct {
		wait time.Duration
		ms   int64
	}{{500 * time.Microsecond, 1}, {time.Millisecond, 1}, {1500 * time.Microsecond, 2}, {30 * time.Second, 30000}} {
		rec := httptest.NewRecorder()
		fail(rec, &locker.ThrottledError{RetryAfter: tc.wait})
		var er ErrorReply
		if err := json.Unmarshal(rec.Body.Bytes(), &er); err != nil || rec.Code != http.StatusTooManyRequests || er.Reason != "throttled" || er.RetryAfterMS != tc.ms {
			t.Errorf("wait %v: %d %s, want retry_after_ms %d", tc.wait, rec.Code, rec.Body, tc.ms)
		}
	}
}
