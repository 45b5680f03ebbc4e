package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/live"
)

// startReplicatedPair starts two three-instance clusters on loopback,
// dc1 and dc2, serving the example model and pipeline: dc1 replicates
// every change made in it to dc2 (a destination of type shoal at dc2's
// HTTP addresses, each reached through a dcLink the caller can cut), and
// dc2 takes changes from dc1 (an inbound connector of type shoal that
// asks for a token, which dc1's instances find in SHOAL_DC2_TOKEN).
func startReplicatedPair(tb testing.TB) (dc1, dc2 []*serveInstance, link *dcLink) {
	tb.Helper()
	text := examplePipelineText(tb)
	// dc2's connector asks for a token; dc1's instances have it in their
	// environment.
	const token = "shoal_ingest_dc1-to-dc2"
	tb.Setenv("SHOAL_DC2_TOKEN", token)
	sum := sha256.Sum256([]byte(token))
	receive := fmt.Sprintf("    replication: {type: shoal, from: [dc1], token_sha256: %s}\n", hex.EncodeToString(sum[:]))
	dc2 = startPipelineCluster(tb, writePipeline(tb, text, receive, ""), "--cluster-name", "dc2")
	link = &dcLink{}
	var urls []string
	for _, in := range dc2 {
		urls = append(urls, fmt.Sprintf("%q", "http://"+link.to(tb, in.http)))
	}
	to := fmt.Sprintf("    to-dc2: {type: shoal, cluster: dc2, urls: [%s], token_env: SHOAL_DC2_TOKEN, timeout: 2s, backoff_min: 50ms, backoff_max: 1s, max_attempts: 1000}\n",
		strings.Join(urls, ", "))
	dc1 = startPipelineCluster(tb, writePipeline(tb, text, "", to), "--cluster-name", "dc1")
	return dc1, dc2, link
}

// dcLink stands for the network between two data centres: a TCP
// forwarder per address of the far side that can be cut. Cut, it closes
// the connections it carries and holds new ones open without carrying a
// byte, as a link that drops everything does: the sender's requests time
// out.
type dcLink struct {
	mu    sync.Mutex
	cut   bool
	conns []net.Conn
}

// to listens on a loopback port that forwards to addr, and returns it.
func (l *dcLink) to(tb testing.TB, addr string) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close(); l.setCut(true) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			l.mu.Lock()
			l.conns = append(l.conns, c)
			cut := l.cut
			l.mu.Unlock()
			if cut {
				continue // held open, carrying nothing, until the cut ends
			}
			go l.carry(c, addr)
		}
	}()
	return ln.Addr().String()
}

func (l *dcLink) carry(c net.Conn, addr string) {
	far, err := net.Dial("tcp", addr)
	if err != nil {
		c.Close()
		return
	}
	l.mu.Lock()
	l.conns = append(l.conns, far)
	l.mu.Unlock()
	go func() { io.Copy(far, c); far.Close() }()
	io.Copy(c, far)
	c.Close()
}

// setCut cuts the link or restores it; either way the connections it
// held are closed, so that senders start afresh.
func (l *dcLink) setCut(cut bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut = cut
	for _, c := range l.conns {
		c.Close()
	}
	l.conns = nil
}

// customerAt is customer id's JSON at version 2, its first name n.
func customerAt(id, n string) string {
	return fmt.Sprintf(`{"created":"2024-01-02T03:04:05Z","email":"%s@example.com","first_name":%q,"id":%q,"last_name":"Lovelace","newsletter":false,"tier":"basic"}`, id, n, id)
}

// writeObject PUTs body as a Customer through the instances of c in turn
// from the i-th, until one takes it (200) or every one has failed.
func writeObject(c []*serveInstance, i int, body string) error {
	var last error
	for j := range c {
		in := c[(i+j)%len(c)]
		status, answer, err := dataCall("PUT", "http://"+in.http+"/v1/data/Customer", body)
		if err == nil && status == http.StatusOK {
			return nil
		}
		last = fmt.Errorf("%s: %d %s %v", in.name, status, answer, err)
	}
	return last
}

// readObject GETs Customer id's object from the first instance of c that
// answers: its JSON, or "" when the cluster has none.
func readObject(c []*serveInstance, id string) (string, error) {
	var last error
	for _, in := range c {
		status, answer, err := dataCall("GET", "http://"+in.http+"/v1/data/Customer/"+id, "")
		switch {
		case err == nil && status == http.StatusNotFound && strings.HasSuffix(answer, ` not found"}`):
			// Not "no data model yet": an instance just restarted may
			// not have applied the model again.
			return "", nil
		case err == nil && status == http.StatusOK:
			var o live.ObjectBody
			if err := json.Unmarshal([]byte(answer), &o); err != nil {
				return "", err
			}
			return string(o.Object), nil
		}
		last = fmt.Errorf("%s: %d %s %v", in.name, status, answer, err)
	}
	return "", last
}

// converged waits until dc2 holds every object of ids as dc1 does.
func converged(tb testing.TB, dc1, dc2 []*serveInstance, ids []string, within time.Duration) {
	tb.Helper()
	want := make([]string, len(ids))
	var mu sync.Mutex
	var problems []string
	parallel(len(ids), func(i int) {
		v, err := readObject(dc1, ids[i])
		mu.Lock()
		defer mu.Unlock()
		if err != nil || v == "" {
			problems = append(problems, fmt.Sprintf("%s on dc1: %q %v", ids[i], v, err))
		}
		want[i] = v
	})
	if len(problems) > 0 {
		slices.Sort(problems)
		tb.Fatalf("%d acknowledged writes not readable on dc1; the first: %s", len(problems), problems[0])
	}
	serveEventually(tb, within, "dc2 holding what dc1 holds", func() error {
		var behind []string
		parallel(len(ids), func(i int) {
			v, err := readObject(dc2, ids[i])
			if err != nil || v != want[i] {
				mu.Lock()
				behind = append(behind, fmt.Sprintf("%s: dc2 has %q (%v), dc1 %q", ids[i], v, err, want[i]))
				mu.Unlock()
			}
		})
		if len(behind) > 0 {
			slices.Sort(behind)
			return fmt.Errorf("%d of %d objects differ; the first: %s", len(behind), len(ids), behind[0])
		}
		return nil
	})
}

// TestReplicationBetweenClusters: dc1 takes a steady stream of writes
// (each customer written, then updated) and replicates them to dc2. In
// the middle its replicaset's leader, the instance delivering the
// changes, is killed with SIGKILL and later restarted. dc2 ends holding
// exactly what dc1 holds, each customer with one previous version (no
// change applied twice), and nothing waits in a repair queue.
func TestReplicationBetweenClusters(t *testing.T) {
	if testing.Short() {
		t.Skip("starts six processes")
	}
	dc1, dc2, _ := startReplicatedPair(t)
	const total = 300
	ids := make([]string, total)
	for i := range ids {
		ids[i] = fmt.Sprintf("r%04d", i)
	}
	write := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			for _, body := range []string{customerAt(ids[i], "Ada"), customerAt(ids[i], "Upd")} {
				if err := writeObject(dc1, i, body); err != nil {
					t.Fatalf("writing %s: %v", ids[i], err)
				}
			}
		}
	}
	start := time.Now()
	write(0, total/2)
	leader := dataLeader(t, dc1[0])
	victim := dc1[slices.IndexFunc(dc1, func(in *serveInstance) bool { return in.name == leader })]
	victim.signal(t, syscall.SIGKILL)
	victim.wait(t)
	t.Logf("after %v: killed %s, dc1's data leader", time.Since(start).Round(time.Millisecond), leader)
	write(total/2, total)
	victim.start(t)
	wrote := time.Now()
	converged(t, dc1, dc2, ids, 2*time.Minute)
	t.Logf("%d writes in %v; dc2 converged %v after the last", 2*total, wrote.Sub(start).Round(time.Millisecond), time.Since(wrote).Round(time.Millisecond))

	var mu sync.Mutex
	var problems []string
	parallel(total, func(i int) {
		h, err := customerHistory("http://"+dc2[i%3].http, ids[i])
		if err == nil && len(h) != 2 {
			err = fmt.Errorf("%d versions, want 2 (the first write and its update)", len(h))
		}
		if err != nil {
			mu.Lock()
			problems = append(problems, ids[i]+": "+err.Error())
			mu.Unlock()
		}
	})
	slices.Sort(problems)
	if len(problems) > 0 {
		t.Errorf("%d customers with a history other than two versions on dc2; the first: %s", len(problems), problems[0])
	}
	for _, c := range [][]*serveInstance{dc1, dc2} {
		var qs []live.QueueBody
		if err := getJSON(context.Background(), serveClient, "http://"+c[0].http, "/v1/queue", &qs); err != nil {
			t.Fatal(err)
		}
		for _, q := range qs {
			if q.Repairs != 0 || q.OutRepairs != 0 {
				t.Errorf("%s %s: %d messages in the repair queue, %d outbound", c[0].name, q.Replicaset, q.Repairs, q.OutRepairs)
			}
		}
	}
	// shoal status on dc1 names the cluster and the lag, now none.
	code, out, errs := shoal(t, "status", "--addr", dc1[0].http)
	if code != exitValid || !strings.HasPrefix(out, "cluster dc1 as ") || !strings.Contains(out, "LAG (CHANGES)") || !strings.Contains(out, "to-dc2") {
		t.Errorf("shoal status on dc1: exit %d\n%s%s", code, out, errs)
	}
}

// replicationRate is the steady write rate of BenchmarkReplication, in
// writes a second, spread over dc1's instances.
const replicationRate = 200

// BenchmarkReplication measures replication between two local
// three-instance clusters (startReplicatedPair) under a steady write rate
// on dc1:
//
//   - steady: b.N writes at replicationRate; every tenth object is
//     polled for on dc2 until it is there with the value written, which
//     gives the lag from dc1's acknowledgement to dc2 serving it
//     (p50/p99/max), and dc1's own lag gauge (/v1/cluster) is sampled
//     every 100ms (its largest backlog, in changes and seconds);
//   - cut: the link from dc1 to dc2 (dcLink) is cut for 30s while b.N
//     writes go on at the same rate, then restored: the catch-up is the
//     time from the restore until dc1 has no change left to deliver.
//
// Run it with -benchtime 2000x -run '^$'.
func BenchmarkReplication(b *testing.B) {
	dc1, dc2, link := startReplicatedPair(b)
	run := 0
	// lag sums dc1's changes waiting for dc2 and the oldest wait, as
	// dc1[0] applied its outbound queues.
	lag := func() (int, float64, error) {
		var st live.ClusterStatus
		if err := getJSON(context.Background(), serveClient, "http://"+dc1[0].http, "/v1/cluster", &st); err != nil {
			return 0, 0, err
		}
		n, oldest := 0, 0.0
		for _, r := range st.Replication {
			n += r.Entries
			oldest = max(oldest, r.OldestSeconds)
		}
		return n, oldest, nil
	}
	// steady writes n customers at replicationRate and returns their ids;
	// seen, if set, hears each sampled object's lag to dc2.
	steady := func(b *testing.B, n int, seen func(time.Duration)) []string {
		run++
		ids := make([]string, n)
		tick := time.NewTicker(time.Second / replicationRate)
		defer tick.Stop()
		var wg sync.WaitGroup
		for i := range ids {
			ids[i] = fmt.Sprintf("b%d-%d", run, i)
			body := customerAt(ids[i], "Ada")
			if err := writeObject(dc1, i, body); err != nil {
				b.Fatalf("writing %s: %v", ids[i], err)
			}
			if seen != nil && i%10 == 0 {
				acked := time.Now()
				wg.Go(func() {
					for deadline := acked.Add(5 * time.Minute); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
						if v, err := readObject(dc2[i%3:i%3+1], ids[i]); err == nil && v == body {
							seen(time.Since(acked))
							return
						}
					}
				})
			}
			<-tick.C
		}
		wg.Wait()
		return ids
	}
	b.Run("steady", func(b *testing.B) {
		var mu sync.Mutex
		var lats []float64
		maxN, maxS := 0, 0.0
		done := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			for {
				select {
				case <-done:
					return
				case <-time.After(100 * time.Millisecond):
				}
				if n, s, err := lag(); err == nil {
					maxN, maxS = max(maxN, n), max(maxS, s)
				}
			}
		}()
		b.ResetTimer()
		ids := steady(b, b.N, func(d time.Duration) {
			mu.Lock()
			lats = append(lats, float64(d)/float64(time.Millisecond))
			mu.Unlock()
		})
		b.StopTimer()
		close(done)
		<-sampled
		converged(b, dc1, dc2, ids, 5*time.Minute)
		slices.Sort(lats)
		pct := func(q float64) float64 { return lats[min(len(lats)-1, int(math.Ceil(q*float64(len(lats))))-1)] }
		b.ReportMetric(pct(0.50), "p50-ms")
		b.ReportMetric(pct(0.99), "p99-ms")
		b.ReportMetric(lats[len(lats)-1], "max-ms")
		b.ReportMetric(float64(maxN), "max-lag-changes")
		b.ReportMetric(maxS, "max-lag-s")
	})
	b.Run("cut", func(b *testing.B) {
		link.setCut(true)
		cut := time.Now()
		b.ResetTimer()
		ids := steady(b, b.N, nil)
		if rest := 30*time.Second - time.Since(cut); rest > 0 {
			time.Sleep(rest) // the cut lasts 30s whatever b.N
		}
		backlog, _, err := lag()
		if err != nil {
			b.Fatal(err)
		}
		link.setCut(false)
		healed := time.Now()
		serveEventually(b, 10*time.Minute, "dc1 with no change left for dc2", func() error {
			n, _, err := lag()
			if err == nil && n > 0 {
				err = fmt.Errorf("%d changes waiting", n)
			}
			return err
		})
		catchUp := time.Since(healed)
		b.StopTimer()
		converged(b, dc1, dc2, ids, 5*time.Minute)
		b.ReportMetric(float64(backlog), "backlog-changes")
		b.ReportMetric(catchUp.Seconds(), "catchup-s")
		b.ReportMetric(float64(backlog)/catchUp.Seconds(), "catchup-changes/s")
	})
}
