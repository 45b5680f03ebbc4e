// The Docker test runs in the normal build only: the planted bugs change
// nothing it checks, and `make test` would otherwise run it twice.

//go:build !shoalbugs

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mobynet "github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/core/live"
)

// dockerTestTimeout bounds the Docker engine's part of the test (the
// image's build and the containers), against an engine that hangs; the
// binary's compilation is bounded by the package's timeout only. It is
// no measure of speed: on two cores busy with the rest of `make test`,
// the engine's builder took more than five minutes over the image's
// metadata steps.
const dockerTestTimeout = 12 * time.Minute

// dockerOrSkip returns a Docker provider, or skips the test when no
// Docker engine answers, except under CI=true, where that is a failure.
func dockerOrSkip(t *testing.T, ctx context.Context) (p *testcontainers.DockerProvider) {
	t.Helper()
	err := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("%v", r)
			}
		}()
		if p, err = testcontainers.NewDockerProvider(); err != nil {
			return err
		}
		return p.Health(ctx)
	}()
	if err != nil {
		why := strings.SplitN(err.Error(), "\n", 2)[0]
		if os.Getenv("CI") == "true" {
			t.Fatalf("Docker is not reachable: %s: CI must run the Docker test", why)
		}
		t.Skipf("Docker is not reachable (%s): start a Docker engine to run the Docker test", why)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// staticBinary compiles the shoal command as the image holds it, into a
// new directory that becomes the image's build context (buildImage).
func staticBinary(t *testing.T) (dir string) {
	t.Helper()
	dir = t.TempDir()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command, to build the image's binary: %v", err)
	}
	// The binary is the shoal command, one directory up from package cli.
	build := exec.Command(goCmd, "build", "-trimpath", "-o", filepath.Join(dir, "shoal"), "..")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return dir
}

// buildImage assembles, around the binary in dir (staticBinary), the
// build context of cmd/shoal/Dockerfile (as `make image` does) and
// builds the image; it returns the image's tag, removed when the test
// ends.
func buildImage(t *testing.T, ctx context.Context, p *testcontainers.DockerProvider, dir string) string {
	t.Helper()
	for _, d := range []string{"data", "tmp"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dockerfile, err := os.ReadFile(filepath.Join("..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), dockerfile, 0o644); err != nil {
		t.Fatal(err)
	}
	var buildLog bytes.Buffer
	tag, err := p.BuildImage(ctx, &testcontainers.ContainerRequest{FromDockerfile: testcontainers.FromDockerfile{
		Context: dir, Dockerfile: "Dockerfile", Repo: "shoal", Tag: fmt.Sprintf("test-%d-%d", os.Getpid(), time.Now().UnixNano()),
		BuildLogWriter: &buildLog,
	}})
	if err != nil {
		t.Fatalf("docker build: %v\n%s", err, buildLog.Bytes())
	}
	t.Cleanup(func() {
		if _, err := p.Client().ImageRemove(context.Background(), tag, client.ImageRemoveOptions{Force: true, PruneChildren: true}); err != nil {
			t.Logf("removing the image %s: %v", tag, err)
		}
	})
	return tag
}

// dockerNode is one container of the test's cluster.
type dockerNode struct {
	name string // also its alias on the peer network
	c    testcontainers.Container
	url  string // its HTTP API, through the published port
}

// TestDockerPartition runs a three-instance cluster of the FROM scratch
// image, each container on two networks: a peer network the test cuts
// and a client network it keeps (through which the API's port is
// published). It writes through one node, cuts the data leader off the
// peer network, checks that the majority keeps serving and that the cut
// leader acknowledges no write, reconnects it under its alias, and
// checks the recorded history with the linearizable checker.
func TestDockerPartition(t *testing.T) {
	if testing.Short() {
		t.Skip("builds an image and starts three containers")
	}
	began := time.Now()
	t.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	t.Setenv("TESTCONTAINERS_HOST_OVERRIDE", "localhost")
	prevLog := tclog.Default()
	tclog.SetDefault(tclog.TestLogger(t))
	t.Cleanup(func() { tclog.SetDefault(prevLog) })
	health, cancelHealth := context.WithTimeout(context.Background(), time.Minute)
	p := dockerOrSkip(t, health)
	cancelHealth()
	bin := staticBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), dockerTestTimeout)
	defer cancel()
	image := buildImage(t, ctx, p, bin)
	t.Logf("binary and image %s built in %s", image, time.Since(began).Round(time.Millisecond))

	// The peer network is internal: it never carries the published port
	// or the default route, so cutting it leaves the client's way in.
	peerNet, err := network.New(ctx, network.WithInternal())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peerNet.Remove(context.Background()) })
	clientNet, err := network.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { clientNet.Remove(context.Background()) })

	// All three start together: /readyz answers 200 only once the cluster
	// has formed, which takes all three.
	names := []string{"n1", "n2", "n3"}
	nodes := make([]*dockerNode, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	started := time.Now()
	for i, name := range names {
		wg.Go(func() {
			c, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{
				ContainerRequest: testcontainers.ContainerRequest{
					Image: image,
					Cmd: []string{"serve", "--name", name, "--peer-addr", "0.0.0.0:7071", "--advertise-peer", name + ":7071",
						"--http-addr", "0.0.0.0:7070", "--join", "n1:7071,n2:7071,n3:7071", "--bootstrap-expect", "3", "--data-dir", "/data"},
					ExposedPorts: []string{"7070/tcp"},
					// The client network first: the container is created on
					// it, and its port published there.
					Networks:       []string{clientNet.Name, peerNet.Name},
					NetworkAliases: map[string][]string{peerNet.Name: {name}},
					WaitingFor:     wait.ForHTTP("/readyz").WithPort("7070/tcp").WithStartupTimeout(90 * time.Second),
				},
				Started: true,
				Logger:  tclog.TestLogger(t),
			})
			if c != nil {
				nodes[i] = &dockerNode{name: name, c: c}
			}
			errs[i] = err
		})
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, n := range nodes {
			if n == nil {
				continue
			}
			if t.Failed() {
				if rc, err := n.c.Logs(context.Background()); err == nil {
					b, _ := io.ReadAll(rc)
					rc.Close()
					t.Logf("%s's log:\n%s", n.name, b)
				}
			}
			if err := n.c.Terminate(context.Background()); err != nil {
				t.Logf("terminating %s: %v", n.name, err)
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("starting the containers: %v", err)
	}
	for _, n := range nodes {
		host, err := n.c.Host(ctx)
		if err != nil {
			t.Fatal(err)
		}
		port, err := n.c.MappedPort(ctx, "7070/tcp")
		if err != nil {
			t.Fatal(err)
		}
		n.url = fmt.Sprintf("http://%s:%s", host, port.Port())
	}
	t.Logf("three containers ready in %s", time.Since(started).Round(time.Millisecond))

	h := newHistoryRecorder()

	// Writes through one node, read back through every node.
	keys := []string{"a", "b", "c"}
	writer := h.client()
	for i, k := range keys {
		if o := writer.write(nodes[0], k, fmt.Sprintf("before-%d", i)); o != checker.OK {
			t.Fatalf("write %s through %s before the cut: %s", k, nodes[0].name, o)
		}
	}
	for _, n := range nodes {
		for _, k := range keys {
			if o, _ := writer.read(n, k); o != checker.OK {
				t.Fatalf("read %s through %s before the cut: %s", k, n.name, o)
			}
		}
	}

	// Cut the data leader off the peer network.
	leader := dockerDataLeader(t, nodes[0])
	var victim *dockerNode
	var majority []*dockerNode
	for _, n := range nodes {
		if n.name == leader {
			victim = n
		} else {
			majority = append(majority, n)
		}
	}
	if victim == nil {
		t.Fatalf("the cluster names leader %q, not one of its containers", leader)
	}
	docker := p.Client()
	if _, err := docker.NetworkDisconnect(ctx, peerNet.ID, client.NetworkDisconnectOptions{Container: victim.c.GetContainerID()}); err != nil {
		t.Fatalf("disconnecting %s from the peer network: %v", victim.name, err)
	}
	cut := time.Now()
	h.nemesis("partition", victim.name+" off the peer network")

	// The cut leader: writes through it, concurrently, each from its own
	// client; none may be acknowledged. Reads too, for the checker.
	minorityAcked := make([]bool, len(keys))
	var minority sync.WaitGroup
	for i, k := range keys {
		minority.Go(func() {
			c := h.client()
			minorityAcked[i] = c.write(victim, k, fmt.Sprintf("minority-%d", i)) == checker.OK
			c.read(victim, k)
		})
	}

	// The majority keeps serving: a new leader, then every write and read
	// through either of its nodes succeeds.
	c := h.client()
	var firstAck time.Duration
	for i := 0; ; i++ {
		if c.write(majority[i%2], keys[0], fmt.Sprintf("majority-first-%d", i)) == checker.OK {
			firstAck = time.Since(cut)
			break
		}
		if time.Since(cut) > 30*time.Second {
			t.Fatalf("the majority acknowledged no write within 30s of the cut")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("the majority acknowledged a write %s after the cut", firstAck.Round(time.Millisecond))
	for i, k := range keys {
		for j, n := range majority {
			if o := c.write(n, k, fmt.Sprintf("majority-%d-%d", i, j)); o != checker.OK {
				t.Errorf("write %s through %s (majority) after the cut: %s", k, n.name, o)
			}
			if o, _ := c.read(n, k); o != checker.OK {
				t.Errorf("read %s through %s (majority) after the cut: %s", k, n.name, o)
			}
		}
	}
	minority.Wait()
	for i, acked := range minorityAcked {
		if acked {
			t.Errorf("%s, cut off from its peers, acknowledged the write of %s", victim.name, keys[i])
		}
	}

	// Reconnect it under its alias; it catches up and serves again.
	if _, err := docker.NetworkConnect(ctx, peerNet.ID, client.NetworkConnectOptions{
		Container: victim.c.GetContainerID(), EndpointConfig: &mobynet.EndpointSettings{Aliases: []string{victim.name}},
	}); err != nil {
		t.Fatalf("reconnecting %s to the peer network: %v", victim.name, err)
	}
	healed := time.Now()
	h.nemesis("heal", victim.name+" back on the peer network")
	c = h.client()
	for i := 0; ; i++ {
		if c.write(victim, keys[1], fmt.Sprintf("after-heal-%d", i)) == checker.OK {
			break
		}
		if time.Since(healed) > 60*time.Second {
			t.Fatalf("%s acknowledged no write within 60s of the heal", victim.name)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("%s acknowledged a write %s after the heal", victim.name, time.Since(healed).Round(time.Millisecond))
	for _, n := range nodes {
		for _, k := range keys {
			if o, _ := c.read(n, k); o != checker.OK {
				t.Errorf("final read %s through %s: %s", k, n.name, o)
			}
		}
	}

	// The linearizable checker on what the clients saw.
	file := filepath.Join(t.TempDir(), "history.jsonl")
	if err := os.WriteFile(file, h.bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	hist, err := checker.ParseHistory(bytes.NewReader(h.bytes()))
	if err != nil {
		t.Fatalf("the recorded history does not parse: %v\n%s", err, h.bytes())
	}
	lin := checker.Linearizable(hist, 30*time.Second)
	t.Logf("history: %s; linearizable: %s: %s", h.summary(), lin.Result.Verdict, lin.Result.Explanation)
	if lin.Result.Verdict != checker.Valid {
		t.Errorf("the history is %s, want valid: %s\n%s", lin.Result.Verdict, lin.Result.Explanation, h.bytes())
	}
	t.Logf("the Docker test took %s", time.Since(began).Round(time.Millisecond))
}

// dockerDataLeader asks a node who leads the data replicaset.
func dockerDataLeader(t *testing.T, n *dockerNode) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		leader, err := func() (string, error) {
			resp, err := dockerHTTP.Get(n.url + "/v1/cluster")
			if err != nil {
				return "", err
			}
			defer resp.Body.Close()
			var st live.ClusterStatus
			if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
				return "", err
			}
			if len(st.Replicasets) == 0 || st.Replicasets[0].Leader == "" {
				return "", fmt.Errorf("no data leader known: %+v", st.Replicasets)
			}
			return st.Replicasets[0].Leader, nil
		}()
		if err == nil {
			return leader
		}
		if time.Now().After(deadline) {
			t.Fatalf("asking %s for the data leader: %v", n.name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dockerHTTP is the test's client of the containers' API. Its timeout is
// longer than the API's own (live.DefaultTimeout), so that a write the
// cluster cannot commit comes back as the API's 504.
var dockerHTTP = &http.Client{Timeout: live.DefaultTimeout + 5*time.Second, Transport: &http.Transport{Proxy: nil}}

// historyRecorder records client operations as a history in the format
// of checker/README.md, times in ns since it began.
type historyRecorder struct {
	mu      sync.Mutex
	start   time.Time
	buf     bytes.Buffer
	procs   int
	results map[checker.Type]int
}

func newHistoryRecorder() *historyRecorder {
	return &historyRecorder{start: time.Now(), results: map[checker.Type]int{}}
}

// line appends one event, timed now: under the lock, so that times never
// go back through the file.
func (h *historyRecorder) line(process any, typ checker.Type, f, key string, value any, node string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ev := map[string]any{"process": process, "type": typ, "f": f, "value": value, "time": time.Since(h.start).Nanoseconds()}
	if key != "" {
		ev["key"] = key
	}
	if node != "" {
		ev["node"] = node
	}
	b, _ := json.Marshal(ev)
	h.buf.Write(append(b, '\n'))
	if typ != checker.Invoke && f != "partition" && f != "heal" {
		h.results[typ]++
	}
}

func (h *historyRecorder) nemesis(f, what string) {
	h.line("nemesis", checker.Info, f, "", what, "")
}

func (h *historyRecorder) bytes() []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return bytes.Clone(h.buf.Bytes())
}

func (h *historyRecorder) summary() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return fmt.Sprintf("%d ok, %d fail, %d info", h.results[checker.OK], h.results[checker.Fail], h.results[checker.Info])
}

// client is a process of the history. After an operation whose outcome
// is unknown it goes on as a new process, as the format requires.
func (h *historyRecorder) client() *historyClient {
	c := &historyClient{h: h}
	c.renew()
	return c
}

type historyClient struct {
	h       *historyRecorder
	process int
}

func (c *historyClient) renew() {
	c.h.mu.Lock()
	c.h.procs++
	c.process = c.h.procs
	c.h.mu.Unlock()
}

// write puts value under key through n and records it: ok on 200; fail
// when nothing was done (503, or the connection was refused); info
// when the outcome is unknown (504, or no answer).
func (c *historyClient) write(n *dockerNode, key, value string) checker.Type {
	c.h.line(c.process, checker.Invoke, "write", key, value, n.name)
	body, _ := json.Marshal(map[string]string{"value": value})
	status, _, err := dockerCall(http.MethodPut, n.url+live.KeyPath(key), body)
	outcome := checker.Info
	switch {
	case err != nil && dialFailed(err):
		outcome = checker.Fail
	case err != nil:
	case status == http.StatusOK:
		outcome = checker.OK
	case status == http.StatusServiceUnavailable:
		outcome = checker.Fail
	}
	c.h.line(c.process, outcome, "write", key, value, n.name)
	if outcome == checker.Info {
		c.renew()
	}
	return outcome
}

// read gets key through n and records it: ok with the value (null when
// absent), fail on 503, info otherwise.
func (c *historyClient) read(n *dockerNode, key string) (checker.Type, *string) {
	c.h.line(c.process, checker.Invoke, "read", key, nil, n.name)
	status, body, err := dockerCall(http.MethodGet, n.url+live.KeyPath(key), nil)
	outcome := checker.Info
	var value *string
	switch {
	case err != nil:
	case status == http.StatusOK:
		var r live.KVResult
		if json.Unmarshal(body, &r) == nil && r.Value != nil {
			outcome, value = checker.OK, r.Value
		}
	case status == http.StatusNotFound:
		outcome = checker.OK
	case status == http.StatusServiceUnavailable:
		outcome = checker.Fail
	}
	c.h.line(c.process, outcome, "read", key, value, n.name)
	if outcome == checker.Info {
		c.renew()
	}
	return outcome, value
}

func dockerCall(method, url string, body []byte) (status int, answer []byte, err error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := dockerHTTP.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	answer, err = io.ReadAll(resp.Body)
	return resp.StatusCode, answer, err
}
