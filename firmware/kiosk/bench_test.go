package kiosk

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lockerd/lockerd/firmware/kiosk/kiosktest"
	"github.com/lockerd/lockerd/firmware/panel"
)

// BenchmarkLiveUpdate measures the time from the panel showing a screen (Kiosk.Show)
// to the page in Chromium having drawn it (its data-seq changed), over 200 changes
// per iteration, and reports the median and the 99th percentile. Both clocks are the
// machine's wall clock: the page stamps with performance.timeOrigin + now().
// go test -run X -bench LiveUpdate -benchtime 1x ./firmware/kiosk/
func BenchmarkLiveUpdate(b *testing.B) {
	k := New(Config{EntryTimeout: time.Hour})
	url := serve(b, k)
	ctx := kiosktest.Browser(b, 800, 480)
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/"), kiosktest.WaitPrompt("welcome")); err != nil {
		b.Fatal(err)
	}
	_, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](`window.__seen = {};
new MutationObserver(() => { const m = document.getElementById("main"); window.__seen[m.dataset.seq] = performance.timeOrigin + performance.now(); })
  .observe(document.getElementById("main"), {attributes: true, attributeFilter: ["data-seq"]}); undefined`))
	if err != nil {
		b.Fatal(err)
	}
	var lat []float64 // ms
	b.ResetTimer()
	for range b.N {
		for i := range 200 {
			sent := float64(time.Now().UnixNano()) / 1e6
			k.Show(panel.Screen{Mode: panel.ModeCode, Prompt: panel.PromptTyping, Digits: 1 + i%12})
			k.mu.Lock()
			seq := k.seq
			k.mu.Unlock()
			seen, err := chromedp.Run(ctx, chromedp.Poll[float64](fmt.Sprintf(`window.__seen["%d"] || 0`, seq), chromedp.WithPollingInterval(time.Millisecond)))
			if err != nil {
				b.Fatal(err)
			}
			lat = append(lat, seen-sent)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(lat[len(lat)/2], "p50-ms")
	b.ReportMetric(lat[len(lat)*99/100], "p99-ms")
	b.ReportMetric(lat[len(lat)-1], "max-ms")
}
