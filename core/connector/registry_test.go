package connector

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// sink is a third-party outbound type, as a Go program would add one.
type sink struct {
	Queue   string
	Regions []string
	N       int
	Size    int64
	Wait    time.Duration
	Headers []Header
	Subject *Template
}

func (*sink) Type() string { return "test-sink" }

func (s *sink) Render(m *Message) (Request, error) {
	b, err := s.Subject.Execute(m)
	return Request{Headers: s.Headers, Body: b}, err
}

func parseSink(p *Params) OutboundSpec {
	s := &sink{
		Queue:   p.String("queue", true),
		Regions: p.Strings("regions", false),
		N:       p.Int("n", 1, 10, 3),
		Size:    p.Bytes("size", 1<<10, 1<<20, 4<<10),
		Wait:    p.Duration("wait", time.Second, time.Minute, 5*time.Second),
		Headers: p.Headers("headers"),
		Subject: p.Template("subject", "{{.Key}}"),
	}
	if strings.HasPrefix(s.Queue, "tmp-") {
		p.Errorf("queue", "%q is a temporary queue: name a lasting one", s.Queue)
	}
	switch p.Name() {
	case "panics":
		panic("a bug in the type")
	case "nothing":
		return nil
	case "reads-delivery":
		p.Int("max_attempts", 1, 5, 1)
	}
	return s
}

// register adds a type for the test, and takes it away after it.
func registerForTest(t *testing.T) {
	RegisterOutbound("test-sink", parseSink)
	RegisterInbound("test-source", func(p *Params) InboundSpec { return &HTTPInbound{MaxItems: p.Int("n", 1, 5, 1)} })
	t.Cleanup(func() {
		delete(registry.outbound, "test-sink")
		delete(registry.inbound, "test-source")
	})
}

func TestRegisteredType(t *testing.T) {
	registerForTest(t)
	if got, want := OutboundTypes(), []string{"kafka", "shoal", "test-sink", "webhook"}; !reflect.DeepEqual(got, want) {
		t.Errorf("OutboundTypes = %v, want %v", got, want)
	}
	if got, want := InboundTypes(), []string{"http", "kafka", "shoal", "test-source"}; !reflect.DeepEqual(got, want) {
		t.Errorf("InboundTypes = %v, want %v", got, want)
	}
	c, err := parseSection(`connectors:
  inbound:
    src: {type: test-source, n: 4}
  outbound:
    s:
      type: test-sink
      queue: q1
      regions: [eu, us]
      n: 7
      size: 64KiB
      wait: 1m
      headers: {X-B: b, X-A: a}
      subject: 'order {{.Object.id}}'
      batch: 8
    d: {type: test-sink, queue: q2}
`, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := c.Destination("s").Spec.(*sink)
	want := sink{Queue: "q1", Regions: []string{"eu", "us"}, N: 7, Size: 64 << 10, Wait: time.Minute,
		Headers: []Header{{"X-A", "a"}, {"X-B", "b"}}, Subject: s.Subject}
	if !reflect.DeepEqual(*s, want) || s.Subject.Source() != "order {{.Object.id}}" || c.Destination("s").Delivery.Batch != 8 {
		t.Errorf("s = %+v", c.Destination("s"))
	}
	if req, err := s.Render(order); err != nil || string(req.Body) != "order o-1" {
		t.Errorf("Render: %+v, %v", req, err)
	}
	d := c.Destination("d").Spec.(*sink)
	if d.N != 3 || d.Size != 4<<10 || d.Wait != 5*time.Second || d.Regions != nil || d.Headers != nil || d.Subject.Source() != "{{.Key}}" {
		t.Errorf("defaults: %+v", d)
	}
	if in := c.Connector("src"); in.Spec.(*HTTPInbound).MaxItems != 4 {
		t.Errorf("src = %+v", in)
	}

	_, err = parseSection(`connectors:
  outbound:
    a: {type: test-sink}
    b: {type: test-sink, queue: tmp-1, regoins: [eu], sise: 1KiB, n: 11, size: 1MiB, wait: 2m}
    panics: {type: test-sink, queue: q}
    nothing: {type: test-sink, queue: q}
    reads-delivery: {type: test-sink, queue: q}
    e: {type: test-sink, queue: q, regions: [eu, eu], subject: "{{.Nope}}"}
  inbound:
    f: {type: test-source, max_attempts: 3}
`, Options{})
	want2 := `p.yaml:3: connectors.outbound.a: missing required key ` + "`queue`" + `
p.yaml:4: connectors.outbound.b.n: must be in 1..10, got 11
p.yaml:4: connectors.outbound.b.wait: must be in 1s..1m, got 2m
p.yaml:4: connectors.outbound.b.queue: "tmp-1" is a temporary queue: name a lasting one
p.yaml:4: connectors.outbound.b: unknown key "regoins" (did you mean regions?)
p.yaml:4: connectors.outbound.b: unknown key "sise" (did you mean size?)
p.yaml:5: connectors.outbound.panics: the parse function of outbound type test-sink panicked: a bug in the type
p.yaml:6: connectors.outbound.nothing: the parse function of outbound type test-sink returned no spec and reported no problem
p.yaml:7: connectors.outbound.reads-delivery: the parse function of outbound type test-sink panicked: reads the key max_attempts, which is the engine's
p.yaml:8: connectors.outbound.e.regions[1]: "eu" is listed twice
p.yaml:8: connectors.outbound.e.subject: invalid template: .Nope: the data has no field Nope (one of Destination, Seq, IdempotencyKey, MessageID, Key, Value, Object)
p.yaml:10: connectors.inbound.f: unknown key "max_attempts" (one of n, type)`
	if err == nil || err.Error() != want2 {
		t.Errorf("got:\n%v\nwant:\n%s", err, want2)
	}
}

func TestRegisterPanics(t *testing.T) {
	in := func(p *Params) InboundSpec { return nil }
	out := func(p *Params) OutboundSpec { return nil }
	long := strings.Repeat("a", MaxNameLen+1)
	for _, tc := range []struct {
		register func()
		want     string
	}{
		{func() { RegisterInbound("http", in) }, `connector: RegisterInbound: "http" is a built-in type`},
		{func() { RegisterOutbound("kafka", out) }, `connector: RegisterOutbound: "kafka" is a built-in type`},
		{func() { RegisterInbound("", in) }, `connector: RegisterInbound: "" is not valid: a connector type is lower-case letters, digits and - (at most 64), starting with a letter`},
		{func() { RegisterOutbound("Sqs", out) }, `connector: RegisterOutbound: "Sqs" is not valid: a connector type is lower-case letters, digits and - (at most 64), starting with a letter`},
		{func() { RegisterOutbound("s_q", out) }, `connector: RegisterOutbound: "s_q" is not valid: a connector type is lower-case letters, digits and - (at most 64), starting with a letter`},
		{func() { RegisterInbound(long, in) }, fmt.Sprintf(`connector: RegisterInbound: %q is not valid: a connector type is lower-case letters, digits and - (at most 64), starting with a letter`, long)},
		{func() { RegisterInbound("sqs", nil) }, `connector: RegisterInbound: "sqs" needs a parse function`},
		{func() { RegisterOutbound("sqs", nil) }, `connector: RegisterOutbound: "sqs" needs a parse function`},
	} {
		got := func() (msg string) {
			defer func() { msg = fmt.Sprint(recover()) }()
			tc.register()
			return "no panic"
		}()
		if got != tc.want {
			t.Errorf("got %s, want %s", got, tc.want)
		}
	}
	registerForTest(t)
	for _, tc := range []struct {
		register func()
		want     string
	}{
		{func() { RegisterOutbound("test-sink", out) }, `connector: RegisterOutbound: "test-sink" is already registered`},
		{func() { RegisterInbound("test-source", in) }, `connector: RegisterInbound: "test-source" is already registered`},
	} {
		got := func() (msg string) {
			defer func() { msg = fmt.Sprint(recover()) }()
			tc.register()
			return "no panic"
		}()
		if got != tc.want {
			t.Errorf("got %s, want %s", got, tc.want)
		}
	}
	// kafka is a type of each direction; a name may be both.
	if !slices.Contains(InboundTypes(), "kafka") || !slices.Contains(OutboundTypes(), "kafka") {
		t.Errorf("kafka is not both: %v %v", InboundTypes(), OutboundTypes())
	}
}
