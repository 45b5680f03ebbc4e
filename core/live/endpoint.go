package live

// The endpoint adapters: how a live node delivers its outbound queue.
//
// The engine pushes a destination's messages to the destination's
// endpoint, connector.Endpoint(name), with env.Send, as it reaches a
// peer. A live node hands each *connector.Push to its endpoints instead
// of its transport: they deliver the push on a goroutine of their own,
// through the Sender of the destination's type, and post the
// *connector.Pushed answer to the event loop as a peer's message is
// posted. Closing the node cancels what is in flight and closes every
// sender.
//
// An outbound type comes in two halves, registered from init functions
// under the same type name:
//
//   - its parameters' parser in core/connector (connector.RegisterOutbound),
//     which reads the destination's entry of the pipeline file and renders
//     each message into the request it is sent, deterministically, in the
//     engine: the simulator needs nothing more;
//   - its Sender here (RegisterSender), which does the I/O in production.
//
// A binary with the parser but no sender answers every push of that type
// with an error per message: they are retried, and end in the repair
// queue. webhook (net/http) and kafka (kafka-go) are built in.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/segmentio/kafka-go"

	"github.com/shoaldb/shoal/core/connector"
	"github.com/shoaldb/shoal/core/env"
)

// Limits and defaults of the endpoint adapters.
const (
	// pushTimeout bounds the delivery of a push that names no timeout of
	// its own (connector.Push.Timeout: the destination's, past which the
	// engine counts an unanswered push as failed anyway).
	pushTimeout = 10 * time.Second
	// maxPushes bounds the pushes a node's endpoints deliver at once. The
	// engine bounds its own (in_flight per destination); a push beyond
	// this is dropped and logged, and the engine's timeout fails it.
	maxPushes = 1024
	// webhookParallel bounds the requests a webhook destination has
	// outstanding at once, across its pushes.
	webhookParallel = 8
	// maxErrorBody is how much of a refused request's response body its
	// error quotes, in bytes.
	maxErrorBody = 200
	// maxDrain is how much of a response body is read past what is used,
	// so that its connection can serve the next request.
	maxDrain = 64 << 10
	// kafkaMaxBatch is the most bytes of records a produce request to
	// one partition carries: Kafka's default message.max.bytes. A larger
	// record is refused before it is sent.
	kafkaMaxBatch = 1 << 20
	// kafkaLinger is how long kafka-go waits for more records before it
	// sends a partition's batch. A push adds all its records at once, so
	// waiting longer only delays the answer.
	kafkaLinger = time.Millisecond
	// kafkaAttempts is how many times kafka-go tries a batch (a moved
	// partition leader, a reset connection) before it reports the error;
	// the engine retries after that with its own backoff.
	kafkaAttempts = 3
)

// Sender delivers the messages of one destination's pushes to its
// external system. The endpoints open one per destination, with the
// destination's parameters as the engine parsed them, and open another
// when those change (a new pipeline revision).
type Sender interface {
	// Send delivers items and returns one result per item, with the
	// item's Seq: Err "" for a message the system took, else why not (an
	// item without a result failed). It returns by ctx's deadline, and
	// at once when ctx is cancelled. Items of one call have distinct
	// order keys, and an order key is never in two calls at once, so
	// Send may deliver them in any order or in parallel. Send is called
	// from several goroutines at once.
	Send(ctx context.Context, items []connector.Item) []connector.Result
	// Close releases the sender's connections and goroutines. It is
	// called once no Send is running, and should not wait long for what
	// an earlier, cancelled Send left in flight.
	Close() error
}

// openFunc opens the Sender of one destination from its parameters,
// the connector.OutboundSpec its type's parser returned.
type openFunc func(spec connector.OutboundSpec) (Sender, error)

var senders = struct {
	sync.RWMutex
	open map[string]openFunc
}{open: map[string]openFunc{}}

func init() {
	RegisterSender("webhook", openWebhook)
	RegisterSender("kafka", openKafka)
}

// RegisterSender makes live nodes deliver the pushes of the outbound
// type typ with the senders open returns. Call it from an init function,
// next to the connector.RegisterOutbound of the same type: open is given
// the OutboundSpec that type's parser returned for a destination. open
// should not block (a sender connects when it first sends): the
// destination's pushes wait for it. It panics if typ has a sender
// already (webhook and kafka are built in) or open is nil.
func RegisterSender(typ string, open func(spec connector.OutboundSpec) (Sender, error)) {
	senders.Lock()
	defer senders.Unlock()
	switch {
	case open == nil:
		panic(fmt.Sprintf("live: RegisterSender: %q needs an open function", typ))
	case senders.open[typ] != nil:
		panic(fmt.Sprintf("live: RegisterSender: %q has a sender already", typ))
	}
	senders.open[typ] = open
}

func senderFor(typ string) openFunc {
	senders.RLock()
	defer senders.RUnlock()
	return senders.open[typ]
}

// endpoints are a node's adapters to its destinations' endpoints.
type endpoints struct {
	log     *slog.Logger
	timeout time.Duration
	// answer hands a push's answer to the engine.
	answer func(from env.NodeID, m *connector.Pushed)
	ctx    context.Context // cancelled by close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the pushes being delivered

	mu     sync.Mutex // held briefly: send takes it on the event loop
	closed bool
	pushes int

	// sendersMu is held while a sender opens.
	sendersMu sync.Mutex
	senders   map[string]*openSender // by destination
}

// openSender is a destination's sender and the parameters it was opened
// with.
type openSender struct {
	spec  connector.OutboundSpec
	s     Sender
	users int  // pushes using it
	stale bool // another replaced it: close it once unused
}

func newEndpoints(log *slog.Logger, timeout time.Duration, answer func(env.NodeID, *connector.Pushed)) *endpoints {
	ctx, cancel := context.WithCancel(context.Background())
	return &endpoints{log: log, timeout: timeout, answer: answer, ctx: ctx, cancel: cancel, senders: map[string]*openSender{}}
}

// send starts delivering the push m to the endpoint to. It runs on the
// event loop, so it never blocks.
func (e *endpoints) send(to env.NodeID, m env.Message) {
	dest, _ := connector.IsEndpoint(to)
	p, ok := m.(*connector.Push)
	if !ok {
		e.log.Warn("dropped a message to an endpoint: not a push", "to", string(to), "type", fmt.Sprintf("%T", m))
		return
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	if e.pushes >= maxPushes {
		e.mu.Unlock()
		e.log.Warn("dropped a push: too many in flight", "destination", dest, "id", p.ID, "limit", maxPushes)
		return
	}
	e.pushes++
	e.wg.Add(1)
	e.mu.Unlock()
	go func() {
		defer e.wg.Done()
		results := e.deliver(dest, p)
		e.mu.Lock()
		e.pushes--
		e.mu.Unlock()
		e.answer(to, &connector.Pushed{ID: p.ID, Replicaset: p.Replicaset, Destination: p.Destination, Results: results})
	}()
}

// deliver sends p's items with dest's sender, within the push's time. A
// sender that panics fails the push, not the process.
func (e *endpoints) deliver(dest string, p *connector.Push) (out []connector.Result) {
	defer func() {
		if r := recover(); r != nil {
			e.log.Error("a sender panicked", "destination", dest, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			out = failAll(p.Items, fmt.Sprintf("the sender panicked: %v", r))
		}
	}()
	timeout := e.timeout
	if p.Timeout > 0 {
		timeout = p.Timeout
	}
	ctx, cancel := context.WithTimeout(e.ctx, timeout)
	defer cancel()
	o, err := e.acquire(dest, p.Spec)
	if err != nil {
		return failAll(p.Items, err.Error())
	}
	defer e.release(dest, o)
	return resultsFor(p.Items, o.s.Send(ctx, p.Items))
}

// acquire returns dest's sender for spec, opening it (and retiring the
// one for other parameters) when needed.
func (e *endpoints) acquire(dest string, spec connector.OutboundSpec) (*openSender, error) {
	if spec == nil {
		return nil, errors.New("no parameters: this binary lacks the destination's type")
	}
	var retired *openSender
	defer func() {
		if retired != nil {
			e.closeSender(dest, retired)
		}
	}()
	e.sendersMu.Lock()
	defer e.sendersMu.Unlock()
	cur := e.senders[dest]
	if cur != nil && sameSpec(cur.spec, spec) {
		cur.users++
		return cur, nil
	}
	open := senderFor(spec.Type())
	if open == nil {
		return nil, fmt.Errorf("this binary has no sender for the outbound type %q (live.RegisterSender)", spec.Type())
	}
	s, err := open(spec)
	if err != nil {
		return nil, fmt.Errorf("opening the %s sender: %w", spec.Type(), err)
	}
	if cur != nil {
		cur.stale = true
		if cur.users == 0 {
			retired = cur
		}
	}
	o := &openSender{spec: spec, s: s, users: 1}
	e.senders[dest] = o
	return o, nil
}

// release ends a push's use of o, closing it if it was replaced.
func (e *endpoints) release(dest string, o *openSender) {
	e.sendersMu.Lock()
	o.users--
	done := o.stale && o.users == 0
	e.sendersMu.Unlock()
	if done {
		e.closeSender(dest, o)
	}
}

func (e *endpoints) closeSender(dest string, o *openSender) {
	if err := o.s.Close(); err != nil {
		e.log.Warn("closing a sender", "destination", dest, "type", o.spec.Type(), "error", err)
	}
}

// close cancels the pushes in flight, waits for their goroutines and
// closes every sender. Later pushes are dropped.
func (e *endpoints) close() {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.closed = true
	e.mu.Unlock()
	e.cancel()
	e.wg.Wait()
	e.sendersMu.Lock()
	defer e.sendersMu.Unlock()
	for _, dest := range slices.Sorted(maps.Keys(e.senders)) {
		e.closeSender(dest, e.senders[dest])
	}
	clear(e.senders)
}

// sameSpec reports whether a and b are the same parameters: the same
// pointer, for a type whose spec is one (a new pipeline revision parses
// new ones), else equal values.
func sameSpec(a, b connector.OutboundSpec) bool {
	ta := reflect.TypeOf(a)
	if ta != reflect.TypeOf(b) {
		return false
	}
	if ta.Kind() == reflect.Pointer {
		return a == b
	}
	return reflect.DeepEqual(a, b)
}

func failAll(items []connector.Item, why string) []connector.Result {
	out := make([]connector.Result, len(items))
	for i, it := range items {
		out[i] = connector.Result{Seq: it.Seq, Err: why}
	}
	return out
}

// resultsFor puts a sender's results in the order of items, one each;
// an item the sender gave no result for failed.
func resultsFor(items []connector.Item, got []connector.Result) []connector.Result {
	errs := make(map[uint64]string, len(got))
	for _, r := range got {
		if _, dup := errs[r.Seq]; !dup {
			errs[r.Seq] = r.Err
		}
	}
	out := make([]connector.Result, len(items))
	for i, it := range items {
		why, ok := errs[it.Seq]
		if !ok {
			why = "the sender gave no result for this message"
		}
		out[i] = connector.Result{Seq: it.Seq, Err: why}
	}
	return out
}

// webhookSender sends each message as one HTTP request.
type webhookSender struct {
	spec   *connector.Webhook
	client *http.Client
	slots  chan struct{} // webhookParallel requests at once
}

func openWebhook(spec connector.OutboundSpec) (Sender, error) {
	w, ok := spec.(*connector.Webhook)
	if !ok {
		return nil, fmt.Errorf("want webhook parameters, got %T", spec)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = webhookParallel
	return &webhookSender{
		spec: w,
		client: &http.Client{
			Transport: t,
			// A redirect is an answer to report, not to follow: a 303
			// would turn the POST into a GET without its body.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		slots: make(chan struct{}, webhookParallel),
	}, nil
}

func (s *webhookSender) Send(ctx context.Context, items []connector.Item) []connector.Result {
	out := make([]connector.Result, len(items))
	var wg sync.WaitGroup
	for i := range items {
		out[i].Seq = items[i].Seq
		if !s.takeSlot(ctx) {
			out[i].Err = "not sent: " + ctx.Err().Error()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-s.slots }()
			out[i].Err = s.request(ctx, &items[i].Request)
		}()
	}
	wg.Wait()
	return out
}

// takeSlot waits for one of the sender's request slots; false when ctx
// ends first.
func (s *webhookSender) takeSlot(ctx context.Context) bool {
	if ctx.Err() != nil {
		return false
	}
	select {
	case s.slots <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

// request sends one message's request and says why it was not taken:
// "" for a 2xx answer.
func (s *webhookSender) request(ctx context.Context, r *connector.Request) string {
	req, err := http.NewRequestWithContext(ctx, s.spec.Method, s.spec.URL, bytes.NewReader(r.Body))
	if err != nil {
		return err.Error()
	}
	for _, h := range r.Headers {
		if strings.EqualFold(h.Name, "Host") {
			req.Host = h.Value
			continue
		}
		req.Header.Add(h.Name, h.Value)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		// Without the URL, which may carry a token in its query.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return err.Error()
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
		return ""
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	why := resp.Status
	if why == "" {
		why = fmt.Sprintf("%d", resp.StatusCode)
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		why += " (Retry-After: " + printable(ra) + ")"
	}
	if b := strings.TrimSpace(printable(string(body))); b != "" {
		why += ": " + b
	}
	return why
}

// printable is s with each control character a space and each invalid
// UTF-8 sequence (a rune cut at the end, say) a U+FFFD.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, string(utf8.RuneError)))
}

func (s *webhookSender) Close() error {
	s.client.CloseIdleConnections()
	return nil
}

// kafkaSender produces each message as one record, with a kafka-go
// Writer: acks from every in-sync replica, records of one key to one
// partition (so a key's records stay in order).
type kafkaSender struct {
	w         *kafka.Writer
	transport *kafka.Transport
	conns     *connSet
	cancel    context.CancelFunc
}

func openKafka(spec connector.OutboundSpec) (Sender, error) {
	k, ok := spec.(*connector.KafkaOutbound)
	if !ok {
		return nil, fmt.Errorf("want kafka parameters, got %T", spec)
	}
	if len(k.Brokers) == 0 || k.Topic == "" {
		return nil, errors.New("kafka parameters without brokers or topic")
	}
	ctx, cancel := context.WithCancel(context.Background())
	conns := &connSet{conns: map[net.Conn]struct{}{}}
	t := &kafka.Transport{Dial: conns.dial, Context: ctx, ClientID: "shoal"}
	w := &kafka.Writer{
		Addr:         kafka.TCP(k.Brokers...),
		Topic:        k.Topic,
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		MaxAttempts:  kafkaAttempts,
		BatchBytes:   kafkaMaxBatch,
		BatchTimeout: kafkaLinger,
		Transport:    t,
	}
	return &kafkaSender{w: w, transport: t, conns: conns, cancel: cancel}, nil
}

func (s *kafkaSender) Send(ctx context.Context, items []connector.Item) []connector.Result {
	out := make([]connector.Result, len(items))
	msgs := make([]kafka.Message, 0, len(items))
	index := make([]int, 0, len(items)) // msgs[j] is items[index[j]]
	for i, it := range items {
		out[i].Seq = it.Seq
		m := kafka.Message{Key: it.Request.Key, Value: it.Request.Body}
		for _, h := range it.Request.Headers {
			m.Headers = append(m.Headers, kafka.Header{Key: h.Name, Value: []byte(h.Value)})
		}
		if n := recordSize(&m); n > kafkaMaxBatch {
			out[i].Err = fmt.Sprintf("the record is about %d bytes: over the %d a produce request may carry", n, kafkaMaxBatch)
			continue
		}
		msgs = append(msgs, m)
		index = append(index, i)
	}
	if len(msgs) == 0 {
		return out
	}
	err := s.w.WriteMessages(ctx, msgs...)
	var each kafka.WriteErrors
	switch {
	case err == nil:
	case errors.As(err, &each) && len(each) == len(msgs):
		for j, err := range each {
			if err != nil {
				out[index[j]].Err = err.Error()
			}
		}
	default:
		for _, i := range index {
			out[i].Err = err.Error()
		}
	}
	return out
}

// recordSize is at least the size kafka-go gives m when it fills a batch
// (BatchBytes): a record larger than a batch fails the whole
// WriteMessages call, so it is refused before.
func recordSize(m *kafka.Message) int {
	n := 6 + 4 + len(m.Key) + 4 + len(m.Value) + 8 + 5
	for _, h := range m.Headers {
		n += 5 + len(h.Key) + 5 + len(h.Value)
	}
	return n
}

// Close ends what an abandoned Send left in flight at once: kafka-go's
// Writer.Close waits for every batch, each of which tries its produce
// request kafkaAttempts times, 10 s each, against a broker that does not
// answer. Closing its connections fails them.
func (s *kafkaSender) Close() error {
	s.conns.close()
	s.cancel()
	err := s.w.Close()
	s.transport.CloseIdleConnections()
	return err
}

// connSet dials a kafka Transport's connections and closes them all on
// close; it dials no more after.
type connSet struct {
	dialer net.Dialer
	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
}

var errSenderClosed = errors.New("the sender is closed")

func (c *connSet) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := c.dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		conn.Close()
		return nil, errSenderClosed
	}
	c.conns[conn] = struct{}{}
	return &setConn{Conn: conn, set: c}, nil
}

func (c *connSet) forget(conn net.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.conns, conn)
}

func (c *connSet) close() {
	c.mu.Lock()
	c.closed = true
	conns := c.conns
	c.conns = nil
	c.mu.Unlock()
	for conn := range conns {
		conn.Close()
	}
}

// setConn is a connection of a connSet.
type setConn struct {
	net.Conn
	set *connSet
}

func (c *setConn) Close() error {
	c.set.forget(c.Conn)
	return c.Conn.Close()
}
