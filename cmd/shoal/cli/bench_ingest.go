package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shoaldb/shoal/core/live"
)

// mixIngest hands messages to the inbound pipeline instead of reading
// and writing keys.
const mixIngest = "ingest"

// ingestEvery is how often (one acknowledged message in ingestEvery, per
// client) a client follows a message until its object can be read.
const ingestEvery = 50

// ingestReport is what the ingest mix measured beyond the acknowledgements.
type ingestReport struct {
	// Settled counts the messages the cluster's leaders settled during
	// the measured window (stored, or sent to the repair queue), from the
	// queues' counters; StoredPerSec is Settled per second of the window.
	Settled      int64   `json:"settled"`
	StoredPerSec float64 `json:"stored_per_sec"`
	// EndToEnd is the latency from a message's acknowledgement to its
	// object being readable (a linearizable GET), over Samples messages.
	EndToEnd latencyStats `json:"end_to_end"`
	Samples  int          `json:"samples"`
	// Waiting is how many messages waited in the queues at the window's
	// end, and Repaired how many went to the repair queue in the window
	// (none should: every message is a valid customer).
	Waiting  int   `json:"waiting"`
	Repaired int64 `json:"repaired"`
}

// queueTotals are the queues' counters summed over the replicasets.
type queueTotals struct {
	settled, repairs int64
	waiting          int
}

// ingestPayload is a crm message of the example pipeline that becomes
// Customer id; pad fills it out to the --value-size asked.
func ingestPayload(id string, pad []byte) []byte {
	return fmt.Appendf(nil, `{"customer":{"id":%q,"name":"Bench %s","email":"%s@example.com"},"created_at":"2026-01-02T03:04:05Z"}`,
		id, pad, id)
}

// checkIngestTarget requires a pipeline in force that stores crm
// messages, as the example pipeline does.
func checkIngestTarget(ctx context.Context, addr string, hc *http.Client) error {
	var st live.PipelineStatus
	if err := getJSON(ctx, hc, addr, "/v1/pipeline", &st); err != nil {
		return err
	}
	if !strings.Contains(st.Source, "customers") {
		return fmt.Errorf("the cluster's pipeline does not store crm customers: start it with --model and --pipeline from scenarios/examples (or shoal serve --dev)")
	}
	return nil
}

// getJSON reads the 200 answer to GET path from the node at addr into v.
func getJSON(ctx context.Context, hc *http.Client, addr, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, addr+path, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v); err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: GET %s answered %d (%v)", addr, path, resp.StatusCode, err)
	}
	return nil
}

// totals sums the replicasets' queue counters.
func totals(ctx context.Context, addr string, hc *http.Client) (queueTotals, error) {
	var t queueTotals
	var qs []live.QueueBody
	if err := getJSON(ctx, hc, addr, "/v1/queue", &qs); err != nil {
		return t, err
	}
	for _, q := range qs {
		t.settled += int64(q.Settled)
		t.repairs += int64(q.Repairs)
		t.waiting += q.Depth
	}
	return t, nil
}

// benchIngest runs the ingest mix: each client hands messages to the
// inbound queue back to back (POST /v1/ingest/crm, each with an id of its
// own) and, for one acknowledged message in ingestEvery, reads its
// Customer until it is stored. The queues' settled counters before and
// after the window give the rate at which messages become objects.
func benchIngest(ctx context.Context, c benchConfig, progress func(string, ...any)) (*benchReport, error) {
	hc := newBenchHTTPClient(c.timeout, c.access)
	defer hc.CloseIdleConnections()
	if err := checkIngestTarget(ctx, c.addrs[0], hc); err != nil {
		return nil, err
	}
	clients, err := dialBenchClients(ctx, c, c.clients)
	defer closeBenchClients(clients)
	if err != nil {
		return nil, err
	}
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	progress("%d clients, ingest mix: warming up for %s, then measuring for %s", c.clients, c.warmup, c.duration)
	start := time.Now().Add(c.warmup)
	end := start.Add(c.duration)
	var before, after queueTotals
	var mu sync.Mutex
	var e2e []int64
	var wg sync.WaitGroup
	wg.Go(func() {
		// The counters at the window's edges.
		time.Sleep(time.Until(start))
		var err error
		if before, err = totals(ctx, c.addrs[0], hc); err != nil {
			progress("reading the queues at the window's start: %v", err)
		}
		time.Sleep(time.Until(end))
		if after, err = totals(ctx, c.addrs[0], hc); err != nil {
			progress("reading the queues at the window's end: %v", err)
		}
	})
	for _, bc := range clients {
		wg.Go(func() {
			conn := bc.conn.(*shoalConn)
			for n := 0; ctx.Err() == nil; n++ {
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				id := fmt.Sprintf("b%s-%d-%d", run, bc.id, n)
				kind, msg := ingestOne(ctx, conn, id, bc.value, c.token)
				took := time.Since(t0)
				if t0.Before(start) {
					continue
				}
				bc.attempted[opWrite]++
				if kind != "" {
					bc.fail(kind, msg)
					continue
				}
				bc.ok[opWrite]++
				bc.lat[opWrite] = append(bc.lat[opWrite], int64(took))
				if bc.ok[opWrite]%ingestEvery == 1 {
					if d, ok := awaitStored(ctx, conn, id, t0.Add(took), time.Now().Add(5*time.Second)); ok {
						mu.Lock()
						e2e = append(e2e, int64(d))
						mu.Unlock()
					}
				}
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("stopped before the end of the measured window: %w", err)
	}
	rep := report(c, clients)
	rep.Write = "POST /v1/ingest/crm: acknowledged once the message is in its replicaset's queue on a majority's disks"
	slices.Sort(e2e)
	settled := after.settled - before.settled
	rep.Ingest = &ingestReport{Settled: settled, StoredPerSec: float64(settled) / c.duration.Seconds(),
		EndToEnd: latencies(e2e), Samples: len(e2e), Waiting: after.waiting, Repaired: after.repairs - before.repairs}
	return rep, nil
}

// ingestOne hands one message in, with token as its bearer token unless
// it is ""; kind is "" when it was acknowledged.
func ingestOne(ctx context.Context, s *shoalConn, id string, pad []byte, token string) (kind, msg string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/v1/ingest/crm", bytes.NewReader(ingestPayload(id, pad)))
	if err != nil {
		return "request", err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(live.HeaderMessageID, id)
	req.Header.Set("X-Kind", "customer")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return transportErrorKind(err), err.Error()
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode == http.StatusAccepted {
		return "", ""
	}
	return "HTTP " + strconv.Itoa(resp.StatusCode), strings.TrimSpace(string(b))
}

// awaitStored reads Customer id until it is stored (or until deadline),
// and returns how long after acked that was.
func awaitStored(ctx context.Context, s *shoalConn, id string, acked, deadline time.Time) (time.Duration, bool) {
	for ctx.Err() == nil && time.Now().Before(deadline) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/v1/data/Customer/"+id, nil)
		if err != nil {
			return 0, false
		}
		resp, err := s.hc.Do(req)
		if err == nil {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(acked), true
			}
		}
		time.Sleep(time.Millisecond)
	}
	return 0, false
}

// fail counts one failed operation of kind.
func (bc *benchClient) fail(kind, msg string) {
	e := bc.errs[kind]
	if e == nil {
		e = &benchErrorKind{Kind: kind, Example: msg}
		bc.errs[kind] = e
	}
	e.Count++
}
