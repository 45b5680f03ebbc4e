package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/live"
	"github.com/shoaldb/shoal/scenarios/liverun"
)

// serveInstance is one `shoal serve` process of a test cluster.
type serveInstance struct {
	name, peer, http, dir string
	args                  []string
	cmd                   *exec.Cmd
	log                   *os.File
	exited                chan error
}

// freeAddrs reserves n loopback addresses (liverun.HoldPorts: outside
// the ephemeral range) and lets go of them for the caller's servers.
func freeAddrs(t testing.TB, n int) []string {
	t.Helper()
	ls, err := liverun.HoldPorts(n)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range ls {
		out = append(out, l.Addr().String())
		l.Close()
	}
	return out
}

func (in *serveInstance) start(t testing.TB) {
	t.Helper()
	in.cmd = exec.Command(os.Args[0], in.args...)
	in.cmd.Env = append(os.Environ(), mainEnv+"=1")
	in.cmd.Stdout, in.cmd.Stderr = in.log, in.log
	if err := in.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	in.exited = make(chan error, 1)
	go func(c *exec.Cmd, done chan error) { done <- c.Wait() }(in.cmd, in.exited)
}

func (in *serveInstance) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := in.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// wait waits for the process to exit and returns its exit code.
func (in *serveInstance) wait(t testing.TB) int {
	t.Helper()
	select {
	case err := <-in.exited:
		if ee, ok := err.(*exec.ExitError); ok {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				return -int(ws.Signal())
			}
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not exit within 30s", in.name)
		return 0
	}
}

// serveClient speaks the HTTP API.
var serveClient = &http.Client{Timeout: 10 * time.Second}

type serveAnswer struct {
	status int
	Key    string  `json:"key"`
	Value  *string `json:"value"`
	Index  uint64  `json:"index"`
	Error  string  `json:"error"`
}

func serveCall(method, url string, body any) (serveAnswer, error) {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		return serveAnswer{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := serveClient.Do(req)
	if err != nil {
		return serveAnswer{}, err
	}
	defer resp.Body.Close()
	var a serveAnswer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		return serveAnswer{}, fmt.Errorf("%s %s: %d with a body that is not JSON: %v", method, url, resp.StatusCode, err)
	}
	a.status = resp.StatusCode
	return a, nil
}

func servePut(in *serveInstance, key, value string) (serveAnswer, error) {
	return serveCall(http.MethodPut, "http://"+in.http+"/v1/kv/"+key, map[string]string{"value": value})
}

func serveGet(in *serveInstance, key string) (serveAnswer, error) {
	return serveCall(http.MethodGet, "http://"+in.http+"/v1/kv/"+key, nil)
}

// eventually retries f until it succeeds or the deadline passes.
func serveEventually(t testing.TB, within time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, within, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServeClusterSurvivesKill runs three `shoal serve` processes on
// loopback, each started with the same --join list and --bootstrap-expect
// 3; writes and reads through every serveInstance; kills the data leader with
// SIGKILL and keeps writing through the others; restarts it; and finds
// every acknowledged write on every serveInstance. The log gives the time from
// cold start to the first acknowledged write, and the failover time.
func TestServeClusterSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three processes")
	}
	cluster := newCluster(t, 3, nil)
	started := time.Now()
	for _, in := range cluster {
		in.start(t)
	}
	serveEventually(t, 30*time.Second, "the first acknowledged write", func() error {
		a, err := servePut(cluster[0], "first", "v0")
		if err == nil && a.status != http.StatusOK {
			err = fmt.Errorf("%d %s", a.status, a.Error)
		}
		return err
	})
	t.Logf("three cold processes to the first acknowledged write: %s", time.Since(started).Round(time.Millisecond))

	acked := map[string]string{"first": "v0"}
	write := func(in *serveInstance, key, value string) error {
		a, err := servePut(in, key, value)
		if err != nil {
			return err
		}
		if a.status != http.StatusOK {
			return fmt.Errorf("PUT %s via %s: %d %s", key, in.name, a.status, a.Error)
		}
		acked[key] = value
		return nil
	}
	readAll := func(in *serveInstance) error {
		for k, v := range acked {
			a, err := serveGet(in, k)
			if err != nil {
				return err
			}
			if a.status != http.StatusOK || a.Value == nil || *a.Value != v {
				return fmt.Errorf("GET %s via %s: %d %v %s, want %q", k, in.name, a.status, a.Value, a.Error, v)
			}
		}
		return nil
	}
	for i, in := range cluster {
		for j := range 10 {
			if err := write(in, fmt.Sprintf("k%d-%d", i, j), fmt.Sprintf("v%d", j)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, in := range cluster {
		if err := readAll(in); err != nil {
			t.Fatal(err)
		}
	}

	// Kill the data leader.
	leader := dataLeader(t, cluster[0])
	var victim *serveInstance
	var survivors []*serveInstance
	for _, in := range cluster {
		if in.name == leader {
			victim = in
		} else {
			survivors = append(survivors, in)
		}
	}
	if victim == nil {
		t.Fatalf("the cluster names leader %q, not one of its instances", leader)
	}
	victim.signal(t, syscall.SIGKILL)
	if code := victim.wait(t); code != -int(syscall.SIGKILL) {
		t.Fatalf("%s exited with %d, want killed by SIGKILL", victim.name, code)
	}
	killed := time.Now()
	serveEventually(t, 30*time.Second, "a write after the leader's death", func() error {
		return write(survivors[0], "after-kill", "x")
	})
	t.Logf("failover after SIGKILL of the leader %s: first acknowledged write %s later", victim.name, time.Since(killed).Round(time.Millisecond))
	for i, in := range survivors {
		for j := range 10 {
			if err := write(in, fmt.Sprintf("s%d-%d", i, j), fmt.Sprintf("w%d", j)); err != nil {
				t.Fatal(err)
			}
		}
	}

	// Restart it with the same command line; it recovers and catches up.
	victim.start(t)
	serveEventually(t, 30*time.Second, "every acknowledged write, read through every serveInstance", func() error {
		for _, in := range cluster {
			if err := readAll(in); err != nil {
				return err
			}
		}
		return nil
	})

	// The command-line clients and the metrics, against the real cluster.
	if code, out, errs := shoal(t, "kv", "get", "first", "--addr", "http://"+cluster[2].http); code != 0 || strings.TrimSpace(out) != "v0" {
		t.Errorf("shoal kv get first: exit %d, %q %q", code, out, errs)
	}
	if code, out, errs := shoal(t, "kv", "cas", "first", "v0", "v1", "--addr", "127.0.0.1:1,"+cluster[1].http); code != 0 || !strings.Contains(out, "ok") {
		t.Errorf("shoal kv cas through a dead address first: exit %d, %q %q", code, out, errs)
	}
	if code, out, errs := shoal(t, "status", "--addr", "http://"+victim.http); code != 0 || !strings.Contains(out, "rs1") || !strings.Contains(out, "n3") {
		t.Errorf("shoal status: exit %d, %q %q", code, out, errs)
	}
	// Every instance reports its Raft state and traffic; the leaders
	// (which serve requests) their latency.
	var metrics []byte
	for _, in := range cluster {
		resp, err := serveClient.Get("http://" + in.http + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), `shoal_raft_term{group="config"}`) {
			t.Errorf("%s's /metrics lacks shoal_raft_term", in.name)
		}
		metrics = append(metrics, b...)
	}
	for _, want := range []string{`shoal_raft_commit_index{group="rs1"}`, `shoal_messages_sent_total{kind="raft.MsgAppResp"}`, `shoal_kv_apply_seconds_bucket`, `shoal_http_requests_total`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	for _, in := range cluster {
		in.signal(t, syscall.SIGTERM)
	}
	for _, in := range cluster {
		if code := in.wait(t); code != 0 {
			t.Errorf("%s exited with %d after SIGTERM, want 0", in.name, code)
		}
	}
}

// newCluster prepares n `shoal serve` processes on loopback, each with
// the same --join list and --bootstrap-expect n, plus extra(i)'s flags;
// their logs are printed if the test fails.
func newCluster(t testing.TB, n int, extra func(i int) []string) []*serveInstance {
	t.Helper()
	peers, https := freeAddrs(t, n), freeAddrs(t, n)
	root := t.TempDir()
	var cluster []*serveInstance
	for i := range n {
		in := &serveInstance{name: fmt.Sprintf("n%d", i+1), peer: peers[i], http: https[i], dir: filepath.Join(root, fmt.Sprintf("n%d", i+1))}
		in.args = []string{"serve", "--name", in.name, "--peer-addr", in.peer, "--http-addr", in.http, "--data-dir", in.dir,
			"--join", strings.Join(peers, ","), "--bootstrap-expect", fmt.Sprint(n), "--log-level", "debug"}
		if extra != nil {
			in.args = append(in.args, extra(i)...)
		}
		var err error
		if in.log, err = os.Create(filepath.Join(root, in.name+".log")); err != nil {
			t.Fatal(err)
		}
		cluster = append(cluster, in)
	}
	t.Cleanup(func() {
		for _, in := range cluster {
			if in.cmd != nil && in.cmd.ProcessState == nil {
				in.cmd.Process.Kill()
			}
			in.log.Close()
			if t.Failed() {
				b, _ := os.ReadFile(in.log.Name())
				t.Logf("%s's log:\n%s", in.name, b)
			}
		}
	})
	return cluster
}

// dataLeader asks an serveInstance who leads the data replicaset.
func dataLeader(t *testing.T, in *serveInstance) string {
	t.Helper()
	var leader string
	serveEventually(t, 10*time.Second, "a known data leader", func() error {
		resp, err := serveClient.Get("http://" + in.http + "/v1/cluster")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var c struct {
			Replicasets []struct {
				Name   string `json:"name"`
				Leader string `json:"leader"`
			} `json:"replicasets"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
			return err
		}
		if len(c.Replicasets) == 0 || c.Replicasets[0].Leader == "" {
			return fmt.Errorf("no leader in %+v", c)
		}
		leader = c.Replicasets[0].Leader
		return nil
	})
	return leader
}

// metricsHold reads in's /metrics and fails unless it holds every line
// of want.
func metricsHold(in *serveInstance, want ...string) error {
	resp, err := serveClient.Get("http://" + in.http + "/metrics")
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, w := range want {
		if !strings.Contains(string(body), "\n"+w+"\n") {
			return fmt.Errorf("no %s in\n%s", w, body)
		}
	}
	return nil
}

// TestServeJoinAndExpel grows a formed three-instance cluster to six
// with `shoal serve --join` alone (the second three found and complete
// rs2), and the governor moves half the buckets to rs2 while keys are
// written: `shoal rebalance pause` holds it, `resume` lets it go on,
// `abort` ends one move, and it ends balanced. Then the cluster loses
// n2: the governor marks it offline, `shoal expel` expels it, and a
// forced expel takes n6, which is online. Every write acknowledged along
// the way is read back through a joined instance at the end.
func TestServeJoinAndExpel(t *testing.T) {
	if testing.Short() {
		t.Skip("starts six processes")
	}
	cluster := newCluster(t, 3, func(i int) []string {
		return []string{"--failure-domain", "zone=" + string(rune('a'+i)), "--setting", "governor.offline_after=3s"}
	})
	for _, in := range cluster {
		in.start(t)
	}
	acked := map[string]string{}
	put := func(in *serveInstance, key, value string) {
		t.Helper()
		serveEventually(t, 30*time.Second, "a write of "+key, func() error {
			a, err := servePut(in, key, value)
			if err == nil && a.status != 200 {
				err = fmt.Errorf("%d %s", a.status, a.Error)
			}
			return err
		})
		acked[key] = value
	}
	put(cluster[0], "before", "1")
	addrs := freeAddrs(t, 6)
	root := t.TempDir()
	var joined []*serveInstance
	for i := range 3 {
		in := &serveInstance{name: fmt.Sprintf("n%d", i+4), peer: addrs[2*i], http: addrs[2*i+1], dir: filepath.Join(root, fmt.Sprintf("n%d", i+4))}
		in.args = []string{"serve", "--name", in.name, "--peer-addr", in.peer, "--http-addr", in.http, "--data-dir", in.dir,
			"--join", cluster[1].peer, "--failure-domain", "zone=" + string(rune('a'+i)), "--log-level", "debug"}
		var err error
		if in.log, err = os.Create(filepath.Join(root, in.name+".log")); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if in.cmd != nil && in.cmd.ProcessState == nil {
				in.cmd.Process.Kill()
			}
			in.log.Close()
			if t.Failed() {
				b, _ := os.ReadFile(in.log.Name())
				t.Logf("%s's log:\n%s", in.name, b)
			}
		})
		in.start(t)
		joined = append(joined, in)
		serveEventually(t, 30*time.Second, "a read through "+in.name, func() error {
			a, err := serveGet(in, "before")
			if err == nil && (a.status != 200 || a.Value == nil || *a.Value != "1") {
				err = fmt.Errorf("%d %v %s", a.status, a.Value, a.Error)
			}
			return err
		})
		put(in, "through-"+in.name, in.name)
	}
	n4, n5, n6 := joined[0], joined[1], joined[2]
	status := func() *live.ClusterStatus {
		t.Helper()
		code, out, errs := shoal(t, "status", "--addr", "http://"+n4.http, "--json")
		var st live.ClusterStatus
		if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
			t.Fatalf("shoal status: exit %d, %s %s", code, out, errs)
		}
		return &st
	}
	serveEventually(t, 30*time.Second, "rs2 complete and five voters", func() error {
		st := status()
		if len(st.Replicasets) != 2 || strings.Join(st.Replicasets[1].Members, ",") != "n4,n5,n6" || !st.Replicasets[1].Complete ||
			st.Replicasets[1].Leader == "" || len(st.Voters) != 5 {
			return fmt.Errorf("replicasets %+v, voters %v", st.Replicasets, st.Voters)
		}
		return nil
	})

	// The governor moves buckets to rs2 as soon as it is complete.
	rebalance := func(in *serveInstance) *live.RebalanceStatus {
		t.Helper()
		code, out, errs := shoal(t, "rebalance", "status", "--addr", "http://"+in.http, "--json")
		var st live.RebalanceStatus
		if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
			t.Fatalf("shoal rebalance status: exit %d, %s %s", code, out, errs)
		}
		return &st
	}
	rebalanceStart := time.Now()
	if code, out, errs := shoal(t, "rebalance", "pause", "--addr", "http://"+n5.http); code != 0 || !strings.Contains(out, "no move is under way") {
		t.Fatalf("rebalance pause: exit %d, %s %s", code, out, errs)
	}
	// n5 has applied the pause, and no move since.
	paused := rebalance(n5)
	time.Sleep(time.Second) // ten ticks of the governor
	if st := rebalance(n4); !st.Paused || st.Moving != nil || st.MovesStarted != paused.MovesStarted {
		t.Fatalf("paused at %d moves started, a second later: %+v", paused.MovesStarted, st)
	}
	if code, out, errs := shoal(t, "rebalance", "resume", "--addr", "http://"+cluster[0].http); code != 0 {
		t.Fatalf("rebalance resume: exit %d, %s %s", code, out, errs)
	}
	// Keys written while buckets move; and an abort, tried until it
	// finds a move under way (none is between a commit and the
	// source's drop).
	aborted := false
	for i := range 64 {
		put([]*serveInstance{cluster[0], n4, n5, n6}[i%4], fmt.Sprintf("during-%d", i), fmt.Sprint(i))
		if !aborted && i%4 == 3 {
			code, out, errs := shoal(t, "rebalance", "abort", "--addr", "http://"+n6.http)
			switch {
			case code == 0 && strings.Contains(out, "group 0 aborted move "):
				aborted = true
			case code != 1 || !strings.Contains(errs, "no move is under way") && !strings.Contains(errs, "is not under way"):
				// (The move it found committed before the abort came.)
				t.Fatalf("rebalance abort: exit %d, %s %s", code, out, errs)
			}
		}
	}
	if !aborted {
		t.Errorf("no abort found a move under way")
	}
	var balanced *live.RebalanceStatus
	serveEventually(t, 120*time.Second, "the buckets balanced", func() error {
		st := rebalance(n4)
		if !st.Balanced || st.Paused || len(st.Replicasets) != 2 || st.Replicasets[1].Buckets != st.Buckets/2 {
			return fmt.Errorf("%d moves started, moving %+v, %d leftovers, %+v", st.MovesStarted, st.Moving, len(st.Leftovers), st.Replicasets)
		}
		balanced = st
		return nil
	})
	t.Logf("rebalanced %d buckets in %s: %d moves started", balanced.Buckets/2, time.Since(rebalanceStart).Round(time.Millisecond), balanced.MovesStarted)
	half := balanced.Buckets / 2
	if balanced.Replicasets[0] != (live.LoadStatus{Name: "rs1", Buckets: half, Target: half, Complete: true}) ||
		balanced.Replicasets[1] != (live.LoadStatus{Name: "rs2", Buckets: half, Target: half, Complete: true}) || balanced.MovesStarted < uint64(half)+1 {
		t.Errorf("balanced: %+v", balanced)
	}
	if st := status(); st.Rebalance == nil || !st.Rebalance.Balanced {
		t.Errorf("shoal status after the rebalance: %+v", st.Rebalance)
	}
	serveEventually(t, 10*time.Second, "the rebalance in n1's metrics", func() error {
		return metricsHold(cluster[0], fmt.Sprintf(`shoal_rebalance_buckets{replicaset="rs2"} %d`, half),
			fmt.Sprintf(`shoal_rebalance_target_buckets{replicaset="rs1"} %d`, half), "shoal_rebalance_moving 0", "shoal_rebalance_paused 0",
			"shoal_rebalance_leftovers 0", "shoal_rebalance_balanced 1", fmt.Sprintf("shoal_rebalance_moves_started_total %d", balanced.MovesStarted))
	})
	// Every key acknowledged so far reads back through n3, of rs1,
	// wherever its bucket went; and keys are written in both
	// replicasets' buckets (read back at the end).
	for key, value := range acked {
		serveEventually(t, 30*time.Second, "a read of "+key+" after the rebalance", func() error {
			a, err := serveGet(cluster[2], key)
			if err == nil && (a.status != 200 || a.Value == nil || *a.Value != value) {
				err = fmt.Errorf("%d %v %s, want %q", a.status, a.Value, a.Error, value)
			}
			return err
		})
	}
	for i := range 32 {
		put([]*serveInstance{cluster[2], n5}[i%2], fmt.Sprintf("after-rebalance-%d", i), fmt.Sprint(i))
	}

	// Expelling an online instance needs --force.
	if code, _, errs := shoal(t, "expel", "n5", "--addr", "http://"+n4.http); code != 1 || !strings.Contains(errs, "online") {
		t.Errorf("expel n5 (online): exit %d, %s; want 1, refused", code, errs)
	}
	n2 := cluster[1]
	n2.cmd.Process.Kill()
	n2.wait(t)
	put(n4, "after-n2-died", "3")
	serveEventually(t, 30*time.Second, "n2 marked offline", func() error {
		for _, in := range status().Instances {
			if in.Name == "n2" && in.State == "offline" && strings.Contains(in.Reason, "not heard from") {
				return nil
			}
		}
		return errors.New("n2 is not offline yet")
	})
	if code, out, errs := shoal(t, "expel", "n2", "--addr", "http://"+n4.http); code != 0 || !strings.Contains(out, "n2 is expelled") {
		t.Fatalf("expel n2: exit %d, %s %s", code, out, errs)
	}
	if code, out, errs := shoal(t, "expel", "n6", "--force", "--addr", "http://"+n4.http); code != 0 || !strings.Contains(out, "n6 is expelled") {
		t.Fatalf("expel n6 --force: exit %d, %s %s", code, out, errs)
	}
	serveEventually(t, 30*time.Second, "n6 no longer ready", func() error {
		resp, err := serveClient.Get("http://" + n6.http + "/readyz")
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 503 || !strings.Contains(string(body), "expelled") {
			return fmt.Errorf("%d %s", resp.StatusCode, body)
		}
		return nil
	})
	serveEventually(t, 30*time.Second, "the cluster without n2 and n6", func() error {
		st := status()
		// Four instances stay (zones a, c, a, b): three voters, one per zone.
		if got := strings.Join(st.Voters, ","); got != "n1,n3,n5" {
			return fmt.Errorf("voters %v", st.Voters)
		}
		if strings.Join(st.Replicasets[0].Members, ",") != "n1,n3" || strings.Join(st.Replicasets[1].Members, ",") != "n4,n5" {
			return fmt.Errorf("replicasets %+v", st.Replicasets)
		}
		return nil
	})
	put(n5, "after-expel", "4")
	serveEventually(t, 10*time.Second, "the topology in n4's metrics", func() error {
		return metricsHold(n4, `shoal_instance_state{instance="n2",state="expelled",target="expelled"} 1`,
			`shoal_instance_state{instance="n5",state="online",target="online"} 1`, `shoal_replicaset_members{replicaset="rs2"} 2`, "shoal_group0_voters 3",
			// Incomplete, each replicaset keeps what it holds.
			fmt.Sprintf(`shoal_rebalance_buckets{replicaset="rs2"} %d`, half), "shoal_rebalance_moving 0")
	})
	for key, value := range acked {
		serveEventually(t, 30*time.Second, "a read of "+key, func() error {
			a, err := serveGet(n5, key)
			if err == nil && (a.status != 200 || a.Value == nil || *a.Value != value) {
				err = fmt.Errorf("%d %v %s, want %q", a.status, a.Value, a.Error, value)
			}
			return err
		})
	}
	for _, in := range []*serveInstance{cluster[0], cluster[2], n4, n5, n6} {
		in.signal(t, syscall.SIGTERM)
	}
	for _, in := range []*serveInstance{cluster[0], cluster[2], n4, n5, n6} {
		if code := in.wait(t); code != 0 {
			t.Errorf("%s exited with %d after SIGTERM", in.name, code)
		}
	}
}

// TestServeSettings: --setting gives the cluster a setting when it forms
// (a queue of at most one message, with no pipeline to settle it, is full
// after the first), and only then: a restart with another value keeps
// the one the cluster formed with, and its log says so.
func TestServeSettings(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process twice")
	}
	in := newCluster(t, 1, func(int) []string { return []string{"--setting", "queue.max_messages=1"} })[0]
	ingest := func(id string) (int, error) {
		req, err := http.NewRequest(http.MethodPost, "http://"+in.http+"/v1/ingest/crm", strings.NewReader(`{"n":1}`))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", id)
		resp, err := serveClient.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		switch resp.StatusCode {
		case http.StatusAccepted, http.StatusTooManyRequests:
			return resp.StatusCode, nil
		}
		return resp.StatusCode, fmt.Errorf("POST /v1/ingest/crm (%s): %d %s", id, resp.StatusCode, body)
	}
	answer := func(id string) int {
		t.Helper()
		var code int
		serveEventually(t, 30*time.Second, "an answer to message "+id, func() (err error) {
			code, err = ingest(id)
			return err
		})
		return code
	}
	in.start(t)
	if code := answer("m1"); code != http.StatusAccepted {
		t.Fatalf("the first message: %d, want 202", code)
	}
	if code := answer("m2"); code != http.StatusTooManyRequests {
		t.Errorf("the second message: %d, want 429 from a queue of at most one", code)
	}
	in.signal(t, syscall.SIGTERM)
	if code := in.wait(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}
	in.args[len(in.args)-1] = "queue.max_messages=5"
	in.start(t)
	if code := answer("m3"); code != http.StatusTooManyRequests {
		t.Errorf("after a restart with queue.max_messages=5: %d, want 429: the cluster keeps what it formed with", code)
	}
	in.signal(t, syscall.SIGTERM)
	in.wait(t)
	if log, _ := os.ReadFile(in.log.Name()); !bytes.Contains(log, []byte("settings count only when the cluster first forms")) {
		t.Errorf("the restarted instance's log does not say its settings took no effect")
	}
}
