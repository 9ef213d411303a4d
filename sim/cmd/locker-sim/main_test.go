package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServePrintsPage runs locker-sim -serve as a newcomer does (make run
// ARGS=-serve): it prints the page's address beside its other lines, before the
// scripted story, serves the page there, and stops cleanly on SIGINT.
func TestServePrintsPage(t *testing.T) {
	if testing.Short() {
		t.Skip("plays the whole scripted story")
	}
	bin := filepath.Join(t.TempDir(), "locker-sim")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-serve", "-dir", t.TempDir())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	page := regexp.MustCompile(`^sim: (http://127\.0\.0\.1:\d+/)$`)
	var url string
	var lines []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		lines = append(lines, line)
		if m := page.FindStringSubmatch(line); m != nil {
			if len(lines) > 3 {
				t.Errorf("the page's address comes late, on line %d", len(lines))
			}
			url = m[1]
		}
		if strings.HasPrefix(line, "serving;") {
			break
		}
	}
	if url == "" {
		t.Fatalf("no %q line in:\n%s", page, strings.Join(lines, "\n"))
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "The cloud's text messages") {
		t.Errorf("GET %s: %d %.200s", url, resp.StatusCode, body)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() { // the rest, until locker-sim closes its output
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("locker-sim after SIGINT: %v", err)
	}
}
