package liverun

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/live"
	"github.com/shoaldb/shoal/core/model"
	"github.com/shoaldb/shoal/scenarios/examples"
	"github.com/shoaldb/shoal/scenarios/liverun/kvclient"
	"github.com/shoaldb/shoal/scenarios/runner"
	"github.com/shoaldb/shoal/simnet/client"
	"github.com/shoaldb/shoal/simnet/harness"
)

// TestIngestAgainstARealNode: clients hand a one-instance cluster with
// the example model and pipeline messages made as a live run's ingest
// workload makes them (runner.Ingest), the final ingest reads follow, and
// the delivery check finds every acknowledged message stored once or in
// the repair queue with its reason.
func TestIngestAgainstARealNode(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	node, err := live.Open(live.Config{Name: "n1", DataDir: t.TempDir(), PeerAddr: "127.0.0.1:0", Logger: quiet,
		Settings: map[string]string{"queue.batch": "8"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := node.Form(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(live.NewAPI(node, live.APIOptions{Logger: quiet}))
	t.Cleanup(srv.Close)
	for ready, why := node.Ready(); !ready; ready, why = node.Ready() {
		if ctx.Err() != nil {
			t.Fatalf("the instance never became ready: %s", why)
		}
		time.Sleep(10 * time.Millisecond)
	}
	m, err := model.Parse("model.yaml", examples.Model)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.ProposeModel(ctx, examples.Model); err != nil {
		t.Fatal(err)
	}
	if _, err := node.SetPipeline(ctx, examples.Pipeline); err != nil {
		t.Fatal(err)
	}

	servers := map[env.NodeID]string{"n1": srv.URL}
	rec := &recorder{}
	const clients = 3
	until := time.Now().Add(time.Second)
	gens := make([]*runner.Ingest, clients)
	stats := make([]kvclient.Stats, clients)
	var wg sync.WaitGroup
	for i := range clients {
		gens[i] = &runner.Ingest{Model: m, Prefix: fmt.Sprintf("w1c%d", i+1), Bad: 0.2}
		wg.Go(func() {
			stats[i] = kvclient.Run(ctx, kvclient.Config{Name: env.NodeID(fmt.Sprintf("c%d", i+1)), Servers: servers, Timeout: 2 * time.Second,
				Retries: 3, Interval: 5 * time.Millisecond, Until: until, Seed: uint64(i + 1), Process: i, ProcessStride: clients, Recorder: rec}, gens[i])
		})
	}
	wg.Wait()
	var sent []client.Op
	for _, g := range gens {
		sent = append(sent, g.Sent...)
	}
	// The final reads come once the queue has drained, as in a run.
	deadline := time.Now().Add(10 * time.Second)
	for {
		q, err := repairQueue(srv.URL)
		if err == nil && q.Depth == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the queue did not drain: %+v %v", q, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	final := kvclient.Run(ctx, kvclient.Config{Name: "final-ingest1", Servers: servers, Timeout: 5 * time.Second, Retries: 3,
		Process: harness.FinalIngestProcess, Recorder: rec}, &client.List{Ops: runner.FinalIngestReads(m, sent, []string{"rs1"})})
	for i, st := range append(stats, final) {
		if st.Bad > 0 {
			t.Errorf("client %d: %d answers outside the API's contract", i, st.Bad)
		}
	}
	if final.Fail+final.Info > 0 {
		t.Errorf("final reads: %+v", final)
	}
	r := checker.Delivery(rec.recs, harness.FinalIngestProcess)
	if r.Verdict != checker.Valid {
		t.Errorf("delivery: %s: %s", r.Verdict, r.Explanation)
	}
	t.Logf("delivery: %s; clients %+v, final reads %+v", r.Explanation, stats, final)
}

// repairQueue reads the one replicaset's queues at base.
func repairQueue(base string) (live.QueueBody, error) {
	resp, err := http.Get(base + "/v1/repair")
	if err != nil {
		return live.QueueBody{}, err
	}
	defer resp.Body.Close()
	var q live.QueueBody
	if resp.StatusCode != http.StatusOK {
		return q, fmt.Errorf("GET /v1/repair: %s", resp.Status)
	}
	return q, json.NewDecoder(resp.Body).Decode(&q)
}
