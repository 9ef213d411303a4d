package keypad

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/lockerd/lockerd/drivers/internal/queue"
	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
)

// ErrConfig is wrapped by configuration errors.
var ErrConfig = errors.New("keypad: bad config")

// DefaultLayout is the usual 4x4 membrane keypad.
var DefaultLayout = [][]Key{
	{'1', '2', '3', 'A'},
	{'4', '5', '6', 'B'},
	{'7', '8', '9', 'C'},
	{'*', '0', '#', 'D'},
}

// MatrixConfig configures a matrix keypad. Rows are outputs driven low one
// at a time; columns are inputs with pull-ups that read low when a key of
// the driven row is down.
type MatrixConfig struct {
	Rows, Cols []string // pin names for gpioreg.ByName
	Layout     [][]Key  // Layout[row][col]; default DefaultLayout
	// ScanInterval paces scanning while a key is down; default 5 ms.
	ScanInterval time.Duration
	// Debounce is how long a key state must hold to count; default 20 ms.
	Debounce time.Duration
	// IdleAfter returns to edge-wait after this long with no key; default 200 ms.
	IdleAfter time.Duration
	ByName    func(string) gpio.PinIO // default gpioreg.ByName
	OnKey     func(Key)               // called in order from a goroutine the Matrix owns
	Logger    *slog.Logger
}

var _ conn.Resource = (*Matrix)(nil)

// Matrix scans a matrix keypad. While no key is down all rows are driven
// low and the column lines wait for an edge, so an idle keypad costs no CPU;
// a press starts scanning until the keys have been up for IdleAfter. While
// scanning, only the selected row is an output (driven low); the others are
// released (inputs with pull-ups), so that two keys pressed in one column never
// short a driven-high row to a driven-low one.
type Matrix struct {
	cfg     MatrixConfig
	rows    []gpio.PinIO
	cols    []gpio.PinIO
	rowMu   sync.Mutex // the row lines and rowLow: the scanner's, or Halt's once it stopped
	rowLow  []bool     // kept state of the rows: driven low, or released (never read back)
	events  *queue.Queue[Key]
	wake    chan struct{}
	cancel  context.CancelFunc
	stopRun context.CancelFunc // stops the scanner only (Halt)
	runDone chan struct{}      // closed when the scanner has stopped
	wg      sync.WaitGroup

	mu      sync.Mutex
	presses uint64
}

// OpenMatrix sets up the lines and starts scanning.
func OpenMatrix(cfg MatrixConfig) (*Matrix, error) {
	if cfg.Layout == nil {
		cfg.Layout = DefaultLayout
	}
	if len(cfg.Rows) == 0 || len(cfg.Cols) == 0 || len(cfg.Layout) != len(cfg.Rows) {
		return nil, fmt.Errorf("%w: %d rows, %d columns, layout of %d rows", ErrConfig, len(cfg.Rows), len(cfg.Cols), len(cfg.Layout))
	}
	seen := map[string]bool{}
	for _, n := range append(append([]string(nil), cfg.Rows...), cfg.Cols...) {
		if n == "" || seen[n] {
			return nil, fmt.Errorf("%w: pin %q missing or used twice", ErrConfig, n)
		}
		seen[n] = true
	}
	for _, r := range cfg.Layout {
		if len(r) != len(cfg.Cols) {
			return nil, fmt.Errorf("%w: layout row of %d keys for %d columns", ErrConfig, len(r), len(cfg.Cols))
		}
	}
	if cfg.ScanInterval <= 0 {
		cfg.ScanInterval = 5 * time.Millisecond
	}
	if cfg.Debounce <= 0 {
		cfg.Debounce = 20 * time.Millisecond
	}
	if cfg.IdleAfter <= 0 {
		cfg.IdleAfter = 200 * time.Millisecond
	}
	if cfg.ByName == nil {
		cfg.ByName = gpioreg.ByName
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	m := &Matrix{cfg: cfg, wake: make(chan struct{}, 1), rowLow: make([]bool, len(cfg.Rows))}
	for _, n := range cfg.Rows {
		p := cfg.ByName(n)
		if p == nil {
			return nil, fmt.Errorf("keypad: row pin %s not found", n)
		}
		m.rows = append(m.rows, p)
	}
	for _, n := range cfg.Cols {
		p := cfg.ByName(n)
		if p == nil {
			return nil, fmt.Errorf("keypad: column pin %s not found", n)
		}
		if err := p.In(gpio.PullUp, gpio.BothEdges); err != nil {
			return nil, fmt.Errorf("keypad: column pin %s: %w", n, err)
		}
		m.cols = append(m.cols, p)
	}
	if err := m.driveAll(true); err != nil {
		return nil, err
	}
	m.events = queue.New(func(k Key) {
		if cfg.OnKey != nil {
			cfg.OnKey(k)
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	for _, c := range m.cols {
		m.wg.Add(1)
		go m.watch(ctx, c)
	}
	runCtx, stopRun := context.WithCancel(ctx)
	m.stopRun, m.runDone = stopRun, make(chan struct{})
	m.wg.Add(1)
	go func() {
		defer close(m.runDone)
		m.run(runCtx)
	}()
	return m, nil
}

// String describes the keypad.
func (m *Matrix) String() string {
	return fmt.Sprintf("keypad.Matrix(%dx%d)", len(m.rows), len(m.cols))
}

// Presses counts debounced key presses.
func (m *Matrix) Presses() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.presses
}

// Halt stops scanning and releases every row (no row selected, none driven);
// scanning resumes only after Close and reopen. Keys pressed since are lost.
func (m *Matrix) Halt() error {
	m.stopRun()
	<-m.runDone // the rows are Halt's from here on
	return m.driveAll(false)
}

// Close stops scanning and waits for the goroutines.
func (m *Matrix) Close() error {
	m.cancel()
	for _, c := range m.cols {
		_ = c.Halt()
	}
	m.wg.Wait()
	m.events.Close()
	return m.driveAll(false)
}

// drive drives row i low, or releases it (an input pulled up) when low is false.
func (m *Matrix) drive(i int, low bool) error {
	m.rowMu.Lock()
	defer m.rowMu.Unlock()
	var err error
	if low {
		err = m.rows[i].Out(gpio.Low)
	} else {
		err = m.rows[i].In(gpio.PullUp, gpio.NoEdge)
	}
	if err != nil {
		return fmt.Errorf("keypad: row pin %s: %w", m.cfg.Rows[i], err)
	}
	m.rowLow[i] = low
	return nil
}

func (m *Matrix) driveAll(low bool) error {
	for i := range m.rows {
		if err := m.drive(i, low); err != nil {
			return err
		}
	}
	return nil
}

func (m *Matrix) isLow(i int) bool {
	m.rowMu.Lock()
	defer m.rowMu.Unlock()
	return m.rowLow[i]
}

// watch turns column edges into wake-ups for the scanner.
func (m *Matrix) watch(ctx context.Context, c gpio.PinIO) {
	defer m.wg.Done()
	for ctx.Err() == nil {
		if c.WaitForEdge(time.Second) { // positive: WaitForEdge(-1) returns at once on gpioioctl
			select {
			case m.wake <- struct{}{}:
			default:
			}
		}
	}
}

// scan reads the whole matrix: bit r*cols+c is set while key (r, c) is down.
func (m *Matrix) scan() (uint64, error) {
	var down uint64
	for r := range m.rows {
		for i := range m.rows {
			if want := i == r; m.isLow(i) != want {
				if err := m.drive(i, want); err != nil {
					return 0, err
				}
			}
		}
		for c, col := range m.cols {
			if col.Read() == gpio.Low {
				down |= 1 << (r*len(m.cols) + c)
			}
		}
	}
	return down, nil
}

func (m *Matrix) run(ctx context.Context) {
	defer m.wg.Done()
	var stable, pending uint64
	var pendingSince, lastDown time.Time
	tick := time.NewTicker(m.cfg.ScanInterval)
	defer tick.Stop()
	for {
		if ctx.Err() != nil {
			return // stopped (Halt, Close): the rows are no longer ours, a key held or not
		}
		// Idle: all rows low, any key pulls its column low and wakes us.
		select {
		case <-m.wake: // edges from the last scan session
		default:
		}
		if err := m.driveAll(true); err != nil {
			m.cfg.Logger.Error("keypad: idle", "err", err)
		}
		// A key already down raised its edge before the drain above.
		if !m.anyColumnLow() && !m.waitKey(ctx) {
			return
		}
		lastDown = time.Now()
		for ctx.Err() == nil {
			down, err := m.scan()
			if err != nil {
				m.cfg.Logger.Error("keypad: scan", "err", err)
				break
			}
			now := time.Now()
			if down != pending {
				pending, pendingSince = down, now
			}
			if pending != stable && now.Sub(pendingSince) >= m.cfg.Debounce {
				m.pressed(pending &^ stable)
				stable = pending
			}
			if stable != 0 || pending != 0 {
				lastDown = now
			} else if now.Sub(lastDown) >= m.cfg.IdleAfter {
				break
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}
}

// waitKey waits for a column edge, re-reading the columns every second in
// case an edge was dropped. It returns false when ctx ends.
func (m *Matrix) waitKey(ctx context.Context) bool {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-m.wake:
			return true
		case <-t.C:
			if m.anyColumnLow() {
				return true
			}
		}
	}
}

func (m *Matrix) anyColumnLow() bool {
	for _, c := range m.cols {
		if c.Read() == gpio.Low {
			return true
		}
	}
	return false
}

// pressed reports newly pressed keys in row-major order.
func (m *Matrix) pressed(bits uint64) {
	for r, row := range m.cfg.Layout {
		for c, k := range row {
			if bits&(1<<(r*len(m.cols)+c)) != 0 {
				m.mu.Lock()
				m.presses++
				m.mu.Unlock()
				m.events.Post(k)
			}
		}
	}
}
