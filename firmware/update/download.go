package update

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
)

// fetch downloads url into part until it holds size bytes, resuming from what part
// already holds with an HTTP Range request (a server that ignores Range sends the whole
// file, and part starts again). It never writes more than size bytes: a server that
// sends more is refused with ReasonTooLarge. The caller checks size against its bound
// before calling.
func fetch(ctx context.Context, client *http.Client, rawURL, part string, size int64) error {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return refusal(ReasonMalformed, "url must be http or https")
	}
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("update: spool: %w", err)
	}
	defer f.Close()
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("update: spool: %w", err)
	}
	if have > size { // a part left by another release
		if err := truncate(f, 0); err != nil {
			return err
		}
		have = 0
	}
	if have == size {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return refusal(ReasonMalformed, "url cannot be requested")
	}
	if have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return refusal(ReasonDownload, "artifact server unreachable")
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0:
		var start, end, total int64
		if _, err := fmt.Sscanf(resp.Header.Get("Content-Range"), "bytes %d-%d/%d", &start, &end, &total); err != nil || start != have {
			return refusal(ReasonDownload, "artifact server sent a range that was not asked for")
		}
	case resp.StatusCode == http.StatusOK:
		if err := truncate(f, 0); err != nil {
			return err
		}
		have = 0
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		_ = truncate(f, 0) // start again on the next attempt
		return refusal(ReasonDownload, "artifact server refused the range")
	default:
		return refusal(ReasonDownload, "artifact server answered HTTP %d", resp.StatusCode)
	}
	// One byte more than expected is enough to know the server sends too much.
	n, err := io.Copy(f, io.LimitReader(resp.Body, size-have+1))
	if have+n > size {
		_ = truncate(f, 0)
		return refusal(ReasonTooLarge, "artifact longer than the manifest says")
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return refusal(ReasonDownload, "download interrupted after %d of %d bytes", have+n, size)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("update: spool: %w", err)
	}
	if have+n < size {
		return refusal(ReasonDownload, "artifact shorter than the manifest says")
	}
	return nil
}

func truncate(f *os.File, n int64) error {
	if err := f.Truncate(n); err != nil {
		return fmt.Errorf("update: spool: %w", err)
	}
	if _, err := f.Seek(n, io.SeekStart); err != nil {
		return fmt.Errorf("update: spool: %w", err)
	}
	return nil
}

// fileSHA256 is the hex SHA-256 of a file's contents.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("update: spool: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("update: spool: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
