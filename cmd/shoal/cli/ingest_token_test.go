package cli

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/connector"
	"github.com/shoaldb/shoal/core/handler"
)

// newIngestToken runs shoal ingest-token and returns the token and the
// token_sha256 line it printed, checking that the line holds the token's
// digest.
func newIngestToken(t *testing.T) (token, line string) {
	t.Helper()
	var out, errb bytes.Buffer
	code, err := ingestTokenCommand(nil, strings.NewReader(""), &out, &errb)
	if code != exitValid || err != nil {
		t.Fatalf("ingest-token: exit %d %v %s", code, err, errb.String())
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 2 || !regexp.MustCompile(`^`+connector.TokenPrefix+`[0-9a-f]{64}$`).MatchString(lines[0]) {
		t.Fatalf("ingest-token printed %q, want the token and the token_sha256 line", out.String())
	}
	token, line = lines[0], lines[1]
	sum := sha256.Sum256([]byte(token))
	if want := `token_sha256: ["` + hex.EncodeToString(sum[:]) + `"]`; line != want {
		t.Fatalf("ingest-token printed the line %q for its token, want %q", line, want)
	}
	if strings.Contains(errb.String(), token) {
		t.Errorf("ingest-token's advice on stderr holds the token: %s", errb.String())
	}
	return token, line
}

// TestIngestTokenCommand: shoal ingest-token makes a new token each
// time, and prints the line that takes it, which parses as an http
// connector's token_sha256; --hash prints the digest of a token read
// from stdin.
func TestIngestTokenCommand(t *testing.T) {
	token, line := newIngestToken(t)
	other, _ := newIngestToken(t)
	if token == other {
		t.Fatalf("ingest-token made %s twice", token)
	}
	src := "routes: {default: k}\nchains: {k: [set-type: T]}\nconnectors:\n  inbound:\n    crm:\n      type: http\n      " + line + "\n"
	p, err := handler.Parse("pipeline.yaml", []byte(src))
	if err != nil {
		t.Fatalf("the pasted line does not parse: %v\n%s", err, src)
	}
	if spec := p.Connectors.Connector("crm").Spec.(*connector.HTTPInbound); !spec.Authorizes(token) || spec.Authorizes(other) {
		t.Errorf("the connector with the pasted line takes %s: %v; %s: %v", token, spec.Authorizes(token), other, spec.Authorizes(other))
	}
	// A token pasted instead of its digest is refused, and not quoted.
	_, err = handler.Parse("pipeline.yaml", []byte(strings.Replace(src, line, "token_sha256: ["+token+"]", 1)))
	if err == nil || !strings.Contains(err.Error(), "is a token, not its digest") || strings.Contains(err.Error(), token) {
		t.Errorf("a token pasted as its digest: %v", err)
	}

	for _, tc := range []struct {
		name, stdin string
		args        []string
		code        int
		out, err    string
	}{
		{name: "a token", stdin: token + "\n", args: []string{"--hash"}, code: exitValid, out: strings.TrimSuffix(strings.TrimPrefix(line, `token_sha256: ["`), `"]`) + "\n"},
		{name: "a token without a newline, CRLF", stdin: "t1\r\n", args: []string{"--hash"}, code: exitValid,
			out: "628b49d96dcde97a430dd4f597705899e09a968f793491e4b704cae33a40dc02\n"},
		{name: "nothing", args: []string{"--hash"}, code: exitUsage, err: "stdin: empty: want a token, such as shoal token create or shoal ingest-token makes"},
		{name: "two lines", stdin: "t1\nt2\n", args: []string{"--hash"}, code: exitUsage, err: "stdin: not a bearer token: one word of letters, digits and -._~+/ (token68)"},
		{name: "two words", stdin: "secret words\n", args: []string{"--hash"}, code: exitUsage, err: "stdin: not a bearer token"},
		{name: "too long", stdin: strings.Repeat("a", 5000), args: []string{"--hash"}, code: exitUsage, err: "stdin: more than 1026 bytes: a token is one line of at most 1024"},
		{name: "an argument", args: []string{"x"}, code: exitUsage, err: "want no argument, got 1 arguments"},
	} {
		var out, errb bytes.Buffer
		code, err := ingestTokenCommand(tc.args, strings.NewReader(tc.stdin), &out, &errb)
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		if code != tc.code || out.String() != tc.out || !strings.Contains(msg, tc.err) {
			t.Errorf("%s: exit %d, %q, error %q; want %d, %q, error %q", tc.name, code, out.String(), msg, tc.code, tc.out, tc.err)
		}
		if tc.stdin != "" && tc.code != exitValid && strings.Contains(msg+errb.String(), strings.TrimSpace(tc.stdin)) {
			t.Errorf("%s: the error quotes what was read: %s", tc.name, msg)
		}
	}
	if code, out, _ := shoal(t, "help"); code != exitValid || !strings.Contains(out, "ingest-token") {
		t.Errorf("help: exit %d, no ingest-token in %s", code, out)
	}
}

// TestIngestWithToken runs an instance whose pipeline declares crm with
// the digest of a token ingest-token made: shoal ingest gets in with the
// token from --token or the environment, and is refused (exit 3, saying
// why) without it or with another; shoal bench --mix ingest sends it too.
// What got in is stored; what did not, is not.
func TestIngestWithToken(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	token, line := newIngestToken(t)
	other, _ := newIngestToken(t)
	file := tempFiles(t)
	example, err := os.ReadFile(examplePipeline)
	if err != nil {
		t.Fatal(err)
	}
	pipeline := file("pipeline.yaml", string(example)+"connectors:\n  inbound:\n    crm:\n      type: http\n      "+line+"\n"+
		"  outbound:\n    billing: {type: webhook, url: \"http://127.0.0.1:1/\"}\n    warehouse: {type: webhook, url: \"http://127.0.0.1:1/\"}\n    test-sink: {type: webhook, url: \"http://127.0.0.1:1/\"}\n")
	in := newCluster(t, 1, func(int) []string { return []string{"--model", exampleModel, "--pipeline", pipeline} })[0]
	in.start(t)
	addr := "http://" + in.http
	t.Setenv(tokenEnv, "")
	ingest := func(id string, extra ...string) (int, string, string) {
		args := append([]string{"ingest", "crm", file(id+".json", crmMessage(id, "2024-01-02T03:04:05Z")), "--id", id, "--header", "X-Kind: customer", "--addr", addr}, extra...)
		return shoal(t, args...)
	}
	// Until the instance applied the pipeline, it takes any connector
	// within the defaults: the tokens count from then on.
	serveEventually(t, 60*time.Second, "the pipeline in force", func() error {
		code, out, errs := shoal(t, "pipeline", "show", "--addr", addr)
		if code != exitValid || !strings.Contains(out, line) {
			return fmt.Errorf("pipeline show: exit %d %q %q", code, out, errs)
		}
		return nil
	})
	serveEventually(t, 20*time.Second, "a message with the token enqueued", func() error {
		code, out, errs := ingest("c1", "--token", token)
		if code != exitValid || !strings.HasPrefix(out, "enqueued c1 in rs1 at position ") {
			return fmt.Errorf("exit %d %q %q", code, out, errs)
		}
		return nil
	})
	for _, tc := range []struct {
		name, id, env string
		args          []string
		code          int
		want          string // in stderr, or stdout when it succeeds
	}{
		{name: "no token", id: "r1", code: exitUsage,
			want: "shoal ingest: connector crm takes only requests with a token: send Authorization: Bearer TOKEN (--token, or env SHOAL_INGEST_TOKEN)"},
		{name: "another token", id: "r2", args: []string{"--token", other}, code: exitUsage,
			want: "shoal ingest: connector crm does not take this token: its token_sha256 lists the SHA-256 digest of every token it takes (--token, or env SHOAL_INGEST_TOKEN)"},
		{name: "a token from the environment", id: "c2", env: token, code: exitValid, want: "enqueued c2 in rs1 at position "},
		{name: "another token from the environment", id: "r3", env: other, code: exitUsage, want: "does not take this token"},
		{name: "--token over the environment", id: "c3", env: other, args: []string{"--token", token}, code: exitValid, want: "enqueued c3 in rs1"},
		{name: "a token that cannot be sent", id: "r4", args: []string{"--token", "two words"}, code: exitUsage,
			want: "shoal ingest: --token: not a bearer token: one word of letters, digits and -._~+/ (token68)"},
		{name: "an empty --token", id: "r5", env: token, args: []string{"--token", ""}, code: exitUsage, want: "--token: empty"},
		{name: "an environment that cannot be sent", id: "r6", env: "a\nb", code: exitUsage, want: "env SHOAL_INGEST_TOKEN: not a bearer token"},
	} {
		t.Setenv(tokenEnv, tc.env)
		code, out, errs := ingest(tc.id, tc.args...)
		got := errs
		if code == exitValid {
			got = out
		}
		if code != tc.code || !strings.Contains(got, tc.want) {
			t.Errorf("%s: exit %d %q %q, want %d and %q", tc.name, code, out, errs, tc.code, tc.want)
		}
		if strings.Contains(errs, token) || strings.Contains(errs, other) {
			t.Errorf("%s: the error quotes a token: %s", tc.name, errs)
		}
	}
	t.Setenv(tokenEnv, "")
	for _, id := range []string{"c1", "c2", "c3"} {
		wantObjectField(t, addr, "/v1/data/Customer/"+id, `"first_name":"Ada"`)
	}
	var q []struct {
		Settled int `json:"settled"`
		Depth   int `json:"depth"`
		Repairs int `json:"repairs"`
	}
	code, out, errs := shoal(t, "queue", "--json", "--addr", addr)
	if err := json.Unmarshal([]byte(out), &q); code != exitValid || err != nil || len(q) != 1 || q[0].Settled != 3 || q[0].Depth != 0 || q[0].Repairs != 0 {
		t.Errorf("queue: exit %d %q %q (%v): want 3 messages settled, no other", code, out, errs, err)
	}
	for _, id := range []string{"r1", "r2", "r3"} {
		if status, body, err := dataCall("GET", addr+"/v1/data/Customer/"+id, ""); err != nil || status != 404 {
			t.Errorf("Customer %s, whose message was refused: %d %s %v, want 404", id, status, body, err)
		}
	}

	// shoal bench --mix ingest: with the token every message is taken;
	// without it none is.
	bench := func(extra ...string) (int, benchReport, string) {
		args := append([]string{"bench", "--mix", "ingest", "--addr", addr, "--clients", "2", "--duration", "500ms", "--warmup", "100ms", "--json"}, extra...)
		code, out, errs := shoal(t, args...)
		var rep benchReport
		if out != "" {
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("bench %q: the report is not JSON: %v\n%s", extra, err, out)
			}
		}
		return code, rep, errs
	}
	code, rep, errs := bench("--token", token)
	if code != exitValid || rep.OK == 0 || rep.Errors != 0 {
		t.Errorf("bench --mix ingest --token: exit %d, %d acknowledged, %d errors %+v %s", code, rep.OK, rep.Errors, rep.ErrorsByKind, errs)
	}
	t.Setenv(tokenEnv, token)
	code, rep, errs = bench()
	if code != exitValid || rep.OK == 0 || rep.Errors != 0 {
		t.Errorf("bench --mix ingest, the token from the environment: exit %d, %d acknowledged, %d errors %+v %s", code, rep.OK, rep.Errors, rep.ErrorsByKind, errs)
	}
	t.Setenv(tokenEnv, "")
	code, rep, _ = bench()
	if code != exitInternal || rep.OK != 0 || len(rep.ErrorsByKind) != 1 || rep.ErrorsByKind[0].Kind != "HTTP 401" {
		t.Errorf("bench --mix ingest without a token: exit %d, %d acknowledged, errors %+v; want exit 4 and only 401s", code, rep.OK, rep.ErrorsByKind)
	}
	// Every mix of shoal sends --token (an API token); etcd and NATS take
	// none.
	code, _, errs = shoal(t, "bench", "--system", "etcd", "--token", token, "--addr", addr)
	if code != exitUsage || !strings.Contains(errs, "--token: only for --system shoal") || strings.Contains(errs, token) {
		t.Errorf("bench --system etcd --token: exit %d %q", code, errs)
	}
}
