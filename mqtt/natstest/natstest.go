// Package natstest runs a real three-node NATS cluster with its MQTT listeners and
// JetStream for tests: nats-server (github.com/nats-io/nats-server/v2, the module's
// `tool` in go.mod, built once per test binary) as separate processes on loopback
// ports, so that a node can be killed with SIGKILL and started again on its own
// JetStream store, as a crashed broker machine would be. docs/fleet.md says how the
// configuration maps lockerd's per-locker ACLs and why the replicas are what they are.
package natstest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/lockerd/lockerd/internal/testenv"
)

// User is a broker account: lockers use their locker id as user name and may use
// only their own topics; cloud users may use every topic under the prefix.
type User struct {
	Name, Password string
	Cloud          bool
}

// Options configure Start.
type Options struct {
	Prefix string // the topic prefix (protocol.Topics); default "lockers"
	Users  []User
}

// Node is one nats-server process.
type Node struct {
	Name                 string
	clientPort, mqttPort int
	clusterPort          int
	monitorPort          int
	conf, dir            string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// MQTTURL is the node's MQTT listener.
func (n *Node) MQTTURL() string { return fmt.Sprintf("tcp://127.0.0.1:%d", n.mqttPort) }

// Cluster is three nodes.
type Cluster struct {
	t     testing.TB
	bin   string
	Nodes []*Node
}

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

// binary builds nats-server from the module cache once per test process.
func binary(t testing.TB) string {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "natstest-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildBin = filepath.Join(dir, "nats-server")
		out, err := exec.Command("go", "build", "-o", buildBin, "github.com/nats-io/nats-server/v2").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build nats-server: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("natstest: %v", buildErr)
	}
	return buildBin
}

// Start starts a three-node cluster and waits until its JetStream meta group has a
// leader and every MQTT listener accepts connections. The nodes are killed when the
// test ends.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Prefix == "" {
		opts.Prefix = "lockers"
	}
	c := &Cluster{t: t, bin: binary(t)}
	dir := t.TempDir()
	for i := range 3 {
		c.Nodes = append(c.Nodes, &Node{Name: fmt.Sprintf("n%d", i+1), clientPort: testenv.FreePort(t), mqttPort: testenv.FreePort(t),
			clusterPort: testenv.FreePort(t), monitorPort: testenv.FreePort(t), dir: filepath.Join(dir, fmt.Sprintf("n%d", i+1))})
	}
	for _, n := range c.Nodes {
		if err := os.MkdirAll(n.dir, 0o700); err != nil {
			t.Fatal(err)
		}
		n.conf = filepath.Join(n.dir, "nats.conf")
		if err := os.WriteFile(n.conf, []byte(c.config(n, opts)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range c.Nodes {
		c.launch(n)
	}
	t.Cleanup(func() {
		for _, n := range c.Nodes {
			c.stop(n, syscall.SIGKILL)
		}
	})
	for _, n := range c.Nodes {
		c.waitMQTT(n)
	}
	c.warmUp(opts)
	return c
}

// warmUp connects once to every node as the first user. The first MQTT client of an
// account makes NATS create the account's MQTT streams (sessions, messages, retained
// messages) with their replicas, which on a loaded machine takes longer than a
// client's connect timeout; after warmUp every node answers CONNECT promptly.
func (c *Cluster) warmUp(opts Options) {
	c.t.Helper()
	if len(opts.Users) == 0 {
		return
	}
	u := opts.Users[0]
	for _, n := range c.Nodes {
		o := paho.NewClientOptions().AddBroker(n.MQTTURL()).SetClientID("natstest-warmup-" + n.Name).
			SetUsername(u.Name).SetPassword(u.Password).SetCleanSession(true).SetAutoReconnect(false).
			SetProtocolVersion(4).SetConnectTimeout(30 * time.Second)
		// Until the JetStream meta group has a leader, NATS refuses CONNECT ("lookup
		// sessions stream ... timeout"): try again until it accepts.
		deadline := time.Now().Add(90 * time.Second)
		for {
			cl := paho.NewClient(o)
			tok := cl.Connect()
			if tok.WaitTimeout(45*time.Second) && tok.Error() == nil {
				cl.Disconnect(100)
				break
			}
			if time.Now().After(deadline) {
				c.t.Fatalf("natstest: %s: no MQTT session after 90 s (%v):\n%s", n.Name, tok.Error(), n.Log())
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
}

// config is one node's configuration file. JetStream stores sessions, QoS 1
// messages and retained messages; `stream_replicas: 3` keeps each on every node, so
// that the death of any one leaves a quorum of two with everything acknowledged
// (NATS picks replicas from the cluster size when unset; set here so that the
// guarantee does not depend on how many nodes were up when the first client came).
func (c *Cluster) config(n *Node, opts Options) string {
	var routes []string
	for _, o := range c.Nodes {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", o.clusterPort))
	}
	var users []string
	subject := strings.ReplaceAll(opts.Prefix, "/", ".")
	for _, u := range opts.Users {
		if u.Cloud {
			users = append(users, fmt.Sprintf(`{user: %q, password: %q, permissions: {publish: [%q], subscribe: [%q, "$MQTT.sub.>"]}}`,
				u.Name, u.Password, subject+".>", subject+".>"))
			continue
		}
		// Mosquitto's pattern ACL of docs/protocol.md §2, subject by subject: a
		// locker reads its commands, writes its replies and events, and reads and
		// writes its presence. MQTT topic levels are NATS subject tokens ("/" is
		// "."); QoS 1 deliveries come on "$MQTT.sub.<id>", which the locker must be
		// allowed to subscribe to.
		own := subject + "." + u.Name + "."
		users = append(users, fmt.Sprintf(`{user: %q, password: %q, permissions: {publish: [%q, %q, %q], subscribe: [%q, %q, "$MQTT.sub.>"]}}`,
			u.Name, u.Password, own+"reply", own+"evt", own+"status", own+"cmd", own+"status"))
	}
	return fmt.Sprintf(`server_name: %s
listen: 127.0.0.1:%d
http: 127.0.0.1:%d
jetstream {
  store_dir: %q
  max_memory_store: 64MB
  max_file_store: 1GB
}
cluster {
  name: lockers
  listen: 127.0.0.1:%d
  routes: [%s]
}
mqtt {
  listen: 127.0.0.1:%d
  stream_replicas: 3
}
accounts {
  LOCKERS {
    jetstream: enabled
    users: [
      %s
    ]
  }
}
`, n.Name, n.clientPort, n.monitorPort, filepath.Join(n.dir, "js"), n.clusterPort, strings.Join(routes, ", "), n.mqttPort,
		strings.Join(users, "\n      "))
}

func (c *Cluster) launch(n *Node) {
	c.t.Helper()
	logf, err := os.OpenFile(filepath.Join(n.dir, "nats.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := exec.Command(c.bin, "-c", n.conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		c.t.Fatalf("natstest: start %s: %v", n.Name, err)
	}
	exited := make(chan struct{})
	go func() { // ends when the process does, which stop ensures
		_ = cmd.Wait()
		logf.Close()
		close(exited)
	}()
	n.mu.Lock()
	n.cmd, n.exited = cmd, exited
	n.mu.Unlock()
}

// waitMQTT waits until the node's MQTT listener accepts a connection. NATS opens
// it only once JetStream is usable in the account, which in a cluster needs the
// meta group's leader.
func (c *Cluster) waitMQTT(n *Node) {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !testenv.Dialable(n.mqttPort) {
		n.mu.Lock()
		exited := n.exited
		n.mu.Unlock()
		select {
		case <-exited:
			c.t.Fatalf("natstest: %s exited:\n%s", n.Name, n.Log())
		default:
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("natstest: %s MQTT not listening after 60 s:\n%s", n.Name, n.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Kill stops the node with SIGKILL, as a crash or a power cut would.
func (c *Cluster) Kill(n *Node) { c.stop(n, syscall.SIGKILL) }

// Restart starts a killed node again on its ports and JetStream store, and waits
// for its MQTT listener.
func (c *Cluster) Restart(n *Node) {
	c.t.Helper()
	c.stop(n, syscall.SIGKILL)
	c.launch(n)
	c.waitMQTT(n)
}

func (c *Cluster) stop(n *Node, sig syscall.Signal) {
	n.mu.Lock()
	cmd, exited := n.cmd, n.exited
	n.cmd = nil
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// URLs are the MQTT listeners of every node.
func (c *Cluster) URLs() []string {
	var out []string
	for _, n := range c.Nodes {
		out = append(out, n.MQTTURL())
	}
	return out
}

// Log is what the node logged, for failure messages.
func (n *Node) Log() string {
	out, _ := os.ReadFile(filepath.Join(n.dir, "nats.log"))
	return string(out)
}

// MQTT's JetStream streams in NATS 2.15 (server/mqtt.go): sessions, the QoS 1 and 2
// messages held for subscriptions, and retained messages.
const (
	StreamSessions = "$MQTT_sess"
	StreamMessages = "$MQTT_msgs"
	StreamRetained = "$MQTT_rmsgs"
)

// StreamLeader returns the node that leads stream in the LOCKERS account, asked of
// the running nodes' monitoring endpoints (/jsz); nil if none reports it.
func (c *Cluster) StreamLeader(stream string) *Node {
	c.t.Helper()
	for _, n := range c.Nodes {
		n.mu.Lock()
		up := n.cmd != nil
		n.mu.Unlock()
		if !up {
			continue
		}
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/jsz?accounts=true&streams=true", n.monitorPort))
		if err != nil {
			continue
		}
		var jsz struct {
			Accounts []struct {
				Name    string `json:"name"`
				Streams []struct {
					Name    string `json:"name"`
					Cluster *struct {
						Leader string `json:"leader"`
					} `json:"cluster"`
				} `json:"stream_detail"`
			} `json:"account_details"`
		}
		err = json.NewDecoder(resp.Body).Decode(&jsz)
		resp.Body.Close()
		if err != nil {
			continue
		}
		for _, a := range jsz.Accounts {
			for _, st := range a.Streams {
				if a.Name != "LOCKERS" || st.Name != stream || st.Cluster == nil {
					continue
				}
				for _, m := range c.Nodes {
					if m.Name == st.Cluster.Leader {
						return m
					}
				}
			}
		}
	}
	return nil
}
