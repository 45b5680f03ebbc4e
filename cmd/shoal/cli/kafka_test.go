package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/shoaldb/shoal/core/live"
)

// The connectors end to end: real `shoal serve` processes on loopback
// reading a Kafka topic (kfake, in this process) and pushing to a
// webhook (an httptest.Server).

const (
	crmTopic      = "crm"
	crmPartitions = 4
	crmGroup      = "shoal-crm" // the kafka connector crm's default group
)

// testKafka is an in-process Kafka of one broker with the topic crm of
// four partitions, and a client's transport to it.
type testKafka struct {
	addr string
	tr   *kafka.Transport
	w    *kafka.Writer // a key's records to one partition
}

func startKafka(tb testing.TB) *testKafka {
	tb.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(crmPartitions, crmTopic))
	if err != nil {
		tb.Fatal(err)
	}
	k := &testKafka{addr: c.ListenAddrs()[0], tr: &kafka.Transport{}}
	k.w = &kafka.Writer{Addr: kafka.TCP(k.addr), Topic: crmTopic, Balancer: &kafka.Hash{}, BatchTimeout: time.Millisecond,
		BatchSize: 1000, RequiredAcks: kafka.RequireAll, Transport: k.tr}
	tb.Cleanup(func() {
		k.w.Close()
		k.tr.CloseIdleConnections()
		c.Close()
	})
	return k
}

// crmRecord is a record of customer id as the crm connector takes it.
func crmRecord(id string, extra ...kafka.Header) kafka.Message {
	return kafka.Message{Key: []byte(id), Value: []byte(crmMessage(id, "2026-01-02T03:04:05Z")),
		Headers: append([]kafka.Header{{Key: "X-Kind", Value: []byte("customer")}}, extra...)}
}

// produce writes msgs to crm.
func (k *testKafka) produce(tb testing.TB, msgs ...kafka.Message) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := k.w.WriteMessages(ctx, msgs...); err != nil {
		tb.Fatal(err)
	}
}

// ends is the next offset of each partition of crm.
func (k *testKafka) ends(tb testing.TB) []int64 {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out := make([]int64, crmPartitions)
	for p := range out {
		conn, err := kafka.DialLeader(ctx, "tcp", k.addr, crmTopic, p)
		if err != nil {
			tb.Fatal(err)
		}
		out[p], err = conn.ReadLastOffset()
		conn.Close()
		if err != nil {
			tb.Fatal(err)
		}
	}
	return out
}

// committed is crm's group's committed offset of each partition (0 when
// none is).
func (k *testKafka) committed() ([]int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := &kafka.Client{Addr: kafka.TCP(k.addr), Transport: k.tr}
	resp, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: crmGroup, Topics: map[string][]int{crmTopic: {0, 1, 2, 3}}})
	if err != nil {
		return nil, err
	}
	out := make([]int64, crmPartitions)
	for _, p := range resp.Topics[crmTopic] {
		out[p.Partition] = max(p.CommittedOffset, 0)
	}
	return out, nil
}

// assignment is the partitions of crm each member of the group reads, by
// client ID (shoal-NAME).
func (k *testKafka) assignment() (map[string][]int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := &kafka.Client{Addr: kafka.TCP(k.addr), Transport: k.tr}
	resp, err := c.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{crmGroup}})
	if err != nil {
		return nil, err
	}
	out := map[string][]int{}
	for _, g := range resp.Groups {
		for _, m := range g.Members {
			for _, t := range m.MemberAssignments.Topics {
				if t.Topic == crmTopic {
					out[m.ClientID] = append(out[m.ClientID], t.Partitions...)
				}
			}
		}
	}
	return out, nil
}

// awaitCommittedEnds waits until the group's offsets are at ends.
func (k *testKafka) awaitCommittedEnds(tb testing.TB, within time.Duration, ends []int64) {
	tb.Helper()
	serveEventually(tb, within, "the group's offsets at the end of every partition", func() error {
		got, err := k.committed()
		if err != nil {
			return err
		}
		if !slices.Equal(got, ends) {
			return fmt.Errorf("committed %v, ends %v", got, ends)
		}
		return nil
	})
}

// crmSyncDelivery is crm-sync's delivery policy in the tests that want
// every message delivered in the end: attempts enough to outlast the
// webhook's refusals.
const crmSyncDelivery = "timeout: 1s, backoff_min: 100ms, backoff_max: 500ms, max_attempts: 1000"

// pipelineWith writes the example pipeline with a connectors section:
// the kafka connector crm reading the topic crm from broker (if set),
// and the webhook destination crm-sync at hook (if set) with the
// delivery keys delivery, to which the customers chain sends every
// customer first, keyed by its id. The destinations the example names
// otherwise are declared, at a port no one listens on: no test message
// goes there.
func pipelineWith(tb testing.TB, broker, hook, delivery string) string {
	tb.Helper()
	text := examplePipelineText(tb)
	var in, out strings.Builder
	if broker != "" {
		fmt.Fprintf(&in, "    crm: {type: kafka, brokers: [%q], topic: %s}\n", broker, crmTopic)
	}
	if hook != "" {
		const chain = "\n  customers:\n"
		if strings.Count(text, chain) != 1 {
			tb.Fatalf("%s: no one customers chain to send from", examplePipeline)
		}
		text = strings.Replace(text, chain, chain+"    - outbound: {destination: crm-sync, key: $.customer.id}\n", 1)
		fmt.Fprintf(&out, "    crm-sync: {type: webhook, url: %q, %s}\n", hook, delivery)
	}
	return writePipeline(tb, text, in.String(), out.String())
}

// examplePipelineText is the example pipeline's source.
func examplePipelineText(tb testing.TB) string {
	tb.Helper()
	src, err := os.ReadFile(examplePipeline)
	if err != nil {
		tb.Fatal(err)
	}
	return string(src)
}

// writePipeline writes text with a connectors section: the inbound and
// outbound entries given (YAML lines indented by four), and the
// destinations the example names otherwise, at a port no one listens on:
// no test message goes there.
func writePipeline(tb testing.TB, text, inbound, outbound string) string {
	tb.Helper()
	var b strings.Builder
	b.WriteString("\nconnectors:\n")
	if inbound != "" {
		b.WriteString("  inbound:\n" + inbound)
	}
	b.WriteString("  outbound:\n" + outbound)
	for _, d := range []string{"billing", "warehouse", "test-sink"} {
		fmt.Fprintf(&b, "    %s: {type: webhook, url: \"http://127.0.0.1:9/%s\"}\n", d, d)
	}
	file := filepath.Join(tb.TempDir(), "pipeline.yaml")
	if err := os.WriteFile(file, []byte(text+b.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	return file
}

// startPipelineCluster starts three instances serving the example model
// and pipeline (and extra flags), and waits until the pipeline is in
// force.
func startPipelineCluster(tb testing.TB, pipeline string, extra ...string) []*serveInstance {
	tb.Helper()
	cluster := newCluster(tb, 3, func(int) []string {
		return append([]string{"--model", exampleModel, "--pipeline", pipeline}, extra...)
	})
	for _, in := range cluster {
		in.start(tb)
	}
	serveEventually(tb, 60*time.Second, "the pipeline in force", func() error {
		for _, in := range cluster {
			var st live.PipelineStatus
			if err := getJSON(context.Background(), serveClient, "http://"+in.http, "/v1/pipeline", &st); err != nil {
				return err
			}
			if !strings.Contains(st.Source, "connectors:") {
				return fmt.Errorf("%s: pipeline revision %d without connectors", in.name, st.Revision)
			}
		}
		return nil
	})
	return cluster
}

// customerHistory reads Customer id's history: every version the store
// keeps, the object last.
func customerHistory(base, id string) ([]live.HistoryEntry, error) {
	status, body, err := dataCall("GET", base+"/v1/data/Customer/"+id+"/history", "")
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("%d %s", status, body)
	}
	var h live.HistoryBody
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		return nil, err
	}
	return h.History, nil
}

// parallel runs f(i) for i in 0..n-1 on a few goroutines.
func parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				f(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// TestKafkaIngestSurvivesKill: three instances consume the topic crm
// through the kafka connector crm. One of them is killed with SIGKILL
// while it reads its partitions, and restarted while more records come.
// Every record's Customer is stored exactly once (its history holds one
// version), none is missing, and the consumer group's committed offsets
// reach the end of every partition.
func TestKafkaIngestSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three processes")
	}
	k := startKafka(t)
	cluster := startPipelineCluster(t, pipelineWith(t, k.addr, "", ""))
	const total = 2000
	ids := make([]string, total)
	records := make([]kafka.Message, total)
	for i := range ids {
		ids[i] = fmt.Sprintf("k%04d", i)
		records[i] = crmRecord(ids[i])
	}
	start := time.Now()
	// A quarter goes in first; more is fed a chunk at a time while no
	// member has records left to commit (the consumer may have caught up
	// between two looks: it commits thousands a second), so that the kill
	// always falls in the middle of a batch; at least the last chunk comes
	// while the victim is down.
	const feedChunk = 250
	fed := total / 4
	k.produce(t, records[:fed]...)

	// Once the group is consuming, kill the instance with the most of
	// its records still to commit: it is in the middle of a batch.
	var victim *serveInstance
	var parts []int
	serveEventually(t, 60*time.Second, "a member consuming its partitions", func() error {
		committed, err := k.committed()
		if err != nil {
			return err
		}
		var sum int64
		for _, c := range committed {
			sum += c
		}
		if sum < total/10 {
			return fmt.Errorf("%d records committed", sum)
		}
		assigned, err := k.assignment()
		if err != nil {
			return err
		}
		ends := k.ends(t)
		best := int64(0)
		for _, in := range cluster {
			var left int64
			for _, p := range assigned["shoal-"+in.name] {
				left += ends[p] - committed[p]
			}
			if left > best {
				victim, parts, best = in, assigned["shoal-"+in.name], left
			}
		}
		if victim == nil {
			if fed < total-feedChunk {
				next := min(fed+feedChunk, total-feedChunk)
				k.produce(t, records[fed:next]...)
				fed = next
			}
			return fmt.Errorf("no member has records left: assignment %v, committed %v (%d records produced)", assigned, committed, fed)
		}
		t.Logf("after %v: %d records committed; killing %s, with %d records of partitions %v still to commit",
			time.Since(start).Round(time.Millisecond), sum, victim.name, best, parts)
		return nil
	})
	victim.signal(t, syscall.SIGKILL)
	victim.wait(t)
	k.produce(t, records[fed:]...)
	victim.start(t)
	ends := k.ends(t)
	var sum int64
	for _, e := range ends {
		sum += e
	}
	if sum != total {
		t.Fatalf("the topic holds %d records, want %d", sum, total)
	}
	k.awaitCommittedEnds(t, 3*time.Minute, ends)
	t.Logf("every partition committed to its end %v after %v", ends, time.Since(start).Round(time.Millisecond))

	base := "http://" + cluster[0].http
	var mu sync.Mutex
	var problems []string
	parallel(total, func(i int) {
		h, err := customerHistory(base, ids[i])
		why := ""
		switch {
		case err != nil:
			why = err.Error()
		case len(h) != 1:
			why = fmt.Sprintf("%d versions, want one: %+v", len(h), h)
		case !strings.Contains(string(h[0].Object), `"email":"`+ids[i]+`@example.com"`):
			why = fmt.Sprintf("object %s", h[0].Object)
		}
		if why != "" {
			mu.Lock()
			problems = append(problems, ids[i]+": "+why)
			mu.Unlock()
		}
	})
	slices.Sort(problems)
	if len(problems) > 0 {
		t.Errorf("%d of %d customers not stored exactly once; the first:\n%s", len(problems), total, strings.Join(problems[:min(len(problems), 20)], "\n"))
	}
	var qs []live.QueueBody
	if err := getJSON(context.Background(), serveClient, base, "/v1/queue", &qs); err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if q.Repairs != 0 {
			t.Errorf("%s: %d messages in the repair queue", q.Replicaset, q.Repairs)
		}
	}
}

// hookRequest is one request a test webhook received.
type hookRequest struct {
	idem   string
	id     string // the customer
	n      int    // the customer's message number
	body   string
	status int
	at     time.Time
}

// testHook is a webhook receiver that answers with answer(i), i the
// request's number from 0, and a delay.
type testHook struct {
	srv    *httptest.Server
	answer func(i int) (status int, delay time.Duration)

	mu   sync.Mutex
	reqs []hookRequest
	took map[string]time.Time // each idempotency key's first 2xx
}

func newTestHook(tb testing.TB, answer func(i int) (int, time.Duration)) *testHook {
	h := &testHook{answer: answer, took: map[string]time.Time{}}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	tb.Cleanup(h.srv.Close)
	return h
}

func (h *testHook) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var msg struct {
		Customer struct{ ID string } `json:"customer"`
		Debug    struct{ N int }     `json:"debug"`
	}
	_ = json.Unmarshal(body, &msg)
	now := time.Now()
	h.mu.Lock()
	status, delay := h.answer(len(h.reqs))
	idem := r.Header.Get("Idempotency-Key")
	h.reqs = append(h.reqs, hookRequest{idem: idem, id: msg.Customer.ID, n: msg.Debug.N, body: string(body), status: status, at: now})
	if _, ok := h.took[idem]; !ok && status < 300 {
		h.took[idem] = now
	}
	h.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
		}
	}
	w.WriteHeader(status)
}

// taken is how many distinct messages the hook has taken.
func (h *testHook) taken() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.took)
}

// TestWebhookPushEndToEnd: three instances send every customer the
// example pipeline takes in to a webhook that refuses (503) at first,
// then delays some answers past the destination's timeout, then
// recovers. Every message is received, each message always with the
// same idempotency key, and each customer's messages in order: one is
// received only after the one before was taken.
func TestWebhookPushEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three processes")
	}
	const refusals, customers, perCustomer = 40, 20, 8
	hook := newTestHook(t, func(i int) (int, time.Duration) {
		switch {
		case i < refusals:
			return http.StatusServiceUnavailable, 0
		case i < 3*refusals && i%5 == 0:
			return http.StatusOK, 1500 * time.Millisecond // past the 1s timeout: counted failed, sent again
		case i < 3*refusals && i%7 == 0:
			return http.StatusOK, 300 * time.Millisecond
		}
		return http.StatusOK, 0
	})
	cluster := startPipelineCluster(t, pipelineWith(t, "", hook.srv.URL+"/customers", crmSyncDelivery))

	// Each customer's messages are handed in one after the other, through
	// the instances in turn; a message not acknowledged is sent again
	// with its id, which counts once.
	start := time.Now()
	var wg sync.WaitGroup
	for c := range customers {
		wg.Go(func() {
			id := fmt.Sprintf("w%02d", c)
			for n := range perCustomer {
				body := fmt.Sprintf(`{"customer":{"id":%q,"name":"Ada N%d","email":"%s@example.com"},"created_at":"2026-01-02T03:04:05Z","debug":{"n":%d}}`, id, n, id, n)
				msgID := fmt.Sprintf("%s-%d", id, n)
				deadline := time.Now().Add(time.Minute)
				for attempt := 0; ; attempt++ {
					in := cluster[(c+n+attempt)%len(cluster)]
					req := mustRequest(t, "POST", "http://"+in.http+"/v1/ingest/crm", []byte(body))
					req.Header.Set("Idempotency-Key", msgID)
					req.Header.Set("X-Kind", "customer")
					resp, err := serveClient.Do(req)
					if err == nil {
						resp.Body.Close()
						if resp.StatusCode == http.StatusAccepted {
							break
						}
					}
					if time.Now().After(deadline) {
						t.Errorf("message %s not acknowledged within a minute: %v", msgID, err)
						return
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	const total = customers * perCustomer
	serveEventually(t, 2*time.Minute, "every message taken by the webhook", func() error {
		if n := hook.taken(); n < total {
			return fmt.Errorf("%d of %d taken", n, total)
		}
		return nil
	})
	// The outbound queue is empty: nothing more is on its way.
	base := "http://" + cluster[0].http
	serveEventually(t, 30*time.Second, "an empty outbound queue", func() error {
		var qs []live.QueueBody
		if err := getJSON(context.Background(), serveClient, base, "/v1/queue", &qs); err != nil {
			return err
		}
		for _, q := range qs {
			if q.Outbound != 0 || q.OutRepairs != 0 {
				return fmt.Errorf("%s: %d outbound, %d in the outbound repair queue", q.Replicaset, q.Outbound, q.OutRepairs)
			}
		}
		return nil
	})

	hook.mu.Lock()
	reqs := slices.Clone(hook.reqs)
	took := maps.Clone(hook.took)
	hook.mu.Unlock()
	t.Logf("%d messages taken in %v: %d requests (%d refused with a 503; the others past one a message are copies sent again after a timeout)",
		len(took), time.Since(start).Round(time.Millisecond), len(reqs), refusals)
	if len(took) != total {
		t.Errorf("%d distinct messages taken, want %d", len(took), total)
	}
	type msg struct {
		id string
		n  int
	}
	byKey := map[string]msg{}     // idempotency key → message
	bodies := map[string]string{} // idempotency key → body
	next := map[string]int{}      // customer → the next message it may receive first
	for _, r := range reqs {
		m := msg{r.id, r.n}
		if first, ok := byKey[r.idem]; !ok {
			byKey[r.idem], bodies[r.idem] = m, r.body
			// A customer's message is received only once the one before
			// was taken.
			if r.n != next[r.id] {
				t.Errorf("customer %s: message %d received first at %v, while message %d is not yet taken", r.id, r.n, r.at, next[r.id])
			}
		} else if first != m || bodies[r.idem] != r.body {
			t.Errorf("idempotency key %s names two messages: %s and %s", r.idem, bodies[r.idem], r.body)
		}
		if r.status < 300 && r.n == next[r.id] {
			next[r.id]++
		}
	}
	for c := range customers {
		if id := fmt.Sprintf("w%02d", c); next[id] != perCustomer {
			t.Errorf("customer %s: %d of %d messages taken in order", id, next[id], perCustomer)
		}
	}
	// Every customer is stored at its last message.
	for c := range customers {
		id := fmt.Sprintf("w%02d", c)
		wantObjectField(t, base, "/v1/data/Customer/"+id, fmt.Sprintf(`"last_name":"N%d"`, perCustomer-1))
	}
}

// BenchmarkKafkaToWebhook measures the connectors end to end on three
// instances on loopback: records produced to Kafka (kfake, in this
// process) are consumed by the kafka connector crm, stored as Customers
// and pushed to an in-process webhook (keyed by customer, so customers
// go in parallel). Each operation is one record; a record's latency is
// from just before it was produced to the webhook's first receipt of
// it, and msgs/s is the records over the time from the first produce to
// the last receipt.
//
//	burst: b.N records produced at once (latency includes the queueing
//	       behind the burst)
//	paced: b.N records at kafkaPacedRate per second
//
// Run it with a fixed count: go test ./cmd/shoal/cli -run '^$'
// -bench KafkaToWebhook -benchtime 2000x
//
// Two runs on an otherwise idle 2-core machine (Intel Xeon, 24 GiB),
// each consumer with up to connector.DefaultInFlight (16) enqueues out:
//
//	burst: 674 and 1076 msgs/s, p50 2.1 and 0.84 s, p99 3.0 and 1.8 s
//	paced: 99.96 and 99.91 msgs/s, p50 19 and 15 ms, p99 114 and 52 ms
//
// Two runs on the same machine shared with other work (load average
// about 12, so the figures move by half between runs):
//
//	burst: 464 and 589 msgs/s, p50 2.4 and 1.9 s, p99 4.2 and 3.4 s
//	paced: 98.7 and 98.4 msgs/s, p50 35 and 31 ms, p99 126 and 110 ms
//
// With one enqueue out per consumer, run in turn with these: burst 106
// and 171 msgs/s, p50 6.6 and 3.9 s, p99 18.4 and 11.5 s; paced 91.9
// and 96.3 msgs/s, p50 98 and 35 ms, p99 2.2 s and 225 ms.
func BenchmarkKafkaToWebhook(b *testing.B) {
	k := startKafka(b)
	var mu sync.Mutex
	received := map[string]time.Time{}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var msg struct {
			Customer struct{ ID string } `json:"customer"`
		}
		_ = json.NewDecoder(r.Body).Decode(&msg)
		now := time.Now()
		mu.Lock()
		if _, ok := received[msg.Customer.ID]; !ok {
			received[msg.Customer.ID] = now
		}
		mu.Unlock()
	}))
	b.Cleanup(hook.Close)
	startPipelineCluster(b, pipelineWith(b, k.addr, hook.URL+"/customers", crmSyncDelivery))
	run := 0
	measure := func(b *testing.B, rate int) {
		run++
		ids := make([]string, b.N)
		produced := make([]time.Time, b.N)
		b.ResetTimer()
		first := time.Now()
		if rate == 0 {
			msgs := make([]kafka.Message, b.N)
			for i := range ids {
				ids[i] = fmt.Sprintf("b%d-%d", run, i)
				msgs[i] = crmRecord(ids[i])
				produced[i] = first
			}
			k.produce(b, msgs...)
		} else {
			tick := time.NewTicker(time.Second / time.Duration(rate))
			for i := range ids {
				ids[i] = fmt.Sprintf("b%d-%d", run, i)
				produced[i] = time.Now()
				k.produce(b, crmRecord(ids[i]))
				<-tick.C
			}
			tick.Stop()
		}
		// When the group has committed every record: the consumers' part.
		k.awaitCommittedEnds(b, 5*time.Minute, k.ends(b))
		consumed := time.Now()
		var last time.Time
		lat := make([]float64, 0, b.N)
		serveEventually(b, 5*time.Minute, "every record at the webhook", func() error {
			mu.Lock()
			defer mu.Unlock()
			got := 0
			for _, id := range ids {
				if _, ok := received[id]; ok {
					got++
				}
			}
			if got < len(ids) {
				return fmt.Errorf("%d of %d received", got, len(ids))
			}
			for i, id := range ids {
				at := received[id]
				if at.After(last) {
					last = at
				}
				lat = append(lat, float64(at.Sub(produced[i]))/float64(time.Millisecond))
			}
			return nil
		})
		b.StopTimer()
		slices.Sort(lat)
		pct := func(q float64) float64 { return lat[min(len(lat)-1, int(math.Ceil(q*float64(len(lat))))-1)] }
		b.ReportMetric(float64(b.N)/last.Sub(first).Seconds(), "msgs/s")
		b.ReportMetric(float64(b.N)/consumed.Sub(first).Seconds(), "committed/s")
		b.ReportMetric(pct(0.50), "p50-ms")
		b.ReportMetric(pct(0.99), "p99-ms")
		b.ReportMetric(lat[len(lat)-1], "max-ms")
	}
	b.Run("burst", func(b *testing.B) { measure(b, 0) })
	b.Run("paced", func(b *testing.B) { measure(b, kafkaPacedRate) })
}

// kafkaPacedRate is the records per second of BenchmarkKafkaToWebhook's
// paced run: well under what the burst measured, so that its latency is
// the pipeline's, not a queue's.
const kafkaPacedRate = 100
