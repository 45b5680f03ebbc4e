package cli

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/graphql"
)

func TestParseServeConfig(t *testing.T) {
	good := `name: n1
peer_addr: 10.0.0.1:7071
http_addr: 10.0.0.1:7070
data_dir: /var/lib/shoal
failure_domain: {zone: a, rack: r1}
join: [10.0.0.2:7071, 10.0.0.3:7071]
bootstrap_expect: 3
tls: {cert: c.pem, key: k.pem, ca: ca.pem, client_auth: true}
http_tls: {cert: api.pem, key: api-key.pem}
auth: true
graphql: {max_depth: 8, max_cost: 500, max_calls: 50, max_objects_read: 700, max_response_bytes: 1048576}
log_format: json
model: shop.yaml
settings: {queue.max_messages: 5000, queue.retry_after: 500ms}
`
	c, err := parseServeConfig("serve.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	if c.Name != "n1" || c.FailureDomain["rack"] != "r1" || len(c.Join) != 2 || !c.TLS.ClientAuth || c.BootstrapExpect != 3 || c.Model != "shop.yaml" ||
		c.Settings["queue.max_messages"] != "5000" || c.Settings["queue.retry_after"] != "500ms" ||
		c.HTTPTLS.Key != "api-key.pem" || c.Settings["auth.required"] != "true" || c.GraphQL.Limits() != (graphql.Limits{MaxDepth: 8, MaxCost: 500, MaxCalls: 50, MaxObjectsRead: 700, MaxResponseBytes: 1 << 20}) {
		t.Errorf("parsed %+v", c)
	}
	for _, tc := range []struct{ src, want string }{
		{"name: n1\nnmae: n2\n", `serve.yaml: line 2: field nmae not found`},
		{"name: n1\nname: n2\n", `serve.yaml: line 2: mapping key "name" already defined at line 1`},
		{"bootstrap_expect: three\n", `serve.yaml: line 1: cannot unmarshal !!str `},
		{"name: n1\n---\nname: n2\n", "serve.yaml: holds more than one YAML document"},
		{"join: {a: b}\n", "serve.yaml: line 1: cannot unmarshal !!map into []string"},
		{"model: [a.yaml]\n", "serve.yaml: line 1: cannot unmarshal !!seq into string"},
		{"graphql: {max_depht: 3}\n", "serve.yaml: line 1: field max_depht not found"},
		{"graphql: {max_cost: lots}\n", "serve.yaml: line 1: cannot unmarshal !!str `lots` into int"},
		{"\t- x", "serve.yaml: "},
	} {
		_, err := parseServeConfig("serve.yaml", []byte(tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one containing %q", tc.src, err, tc.want)
		}
	}
	for _, tc := range []struct {
		c    serveConfig
		want string
	}{
		{serveConfig{DataDir: "d"}, "name: required (--name)"},
		{serveConfig{Name: "a/b", DataDir: "d"}, `name "a/b": must not hold`},
		{serveConfig{Name: "n"}, "data_dir: required (--data-dir)"},
		{serveConfig{Name: "n", DataDir: "d", PeerAddr: "nowhere"}, `address "nowhere": want host:port`},
		{serveConfig{Name: "n", DataDir: "d", BootstrapExpect: 3}, "bootstrap_expect 3 needs join"},
		{serveConfig{Name: "n", DataDir: "d", TLS: tlsConfig{Cert: "c"}}, "tls: cert and key go together"},
		{serveConfig{Name: "n", DataDir: "d", TLS: tlsConfig{Cert: "c", Key: "k", ClientAuth: true}}, "tls: client_auth needs ca"},
		{serveConfig{Name: "n", DataDir: "d", LogLevel: "loud"}, `log_level "loud"`},
		{serveConfig{Name: "n", DataDir: "d", HTTPTLS: httpTLSConfig{Key: "k"}}, "http_tls: cert and key go together"},
		{serveConfig{Name: "n", DataDir: "d", GraphQL: graphqlConfig{MaxDepth: -1}}, "graphql: max_depth -1: want at least 1 (0 or none: the default, 12)"},
		{serveConfig{Name: "n", DataDir: "d", GraphQL: graphqlConfig{MaxCost: -5}}, "graphql: max_cost -5: want at least 1 (0 or none: the default, 10000)"},
		{serveConfig{Name: "n", DataDir: "d", GraphQL: graphqlConfig{MaxCalls: -1}}, "graphql: max_calls -1: want at least 1 (0 or none: the default, 1000)"},
		{serveConfig{Name: "n", DataDir: "d", GraphQL: graphqlConfig{MaxObjectsRead: -1}}, "graphql: max_objects_read -1: want at least 1 (0 or none: the default, 50000)"},
		{serveConfig{Name: "n", DataDir: "d", GraphQL: graphqlConfig{MaxResponseBytes: -1}}, "graphql: max_response_bytes -1: want at least 1 (0 or none: the default, 16777216)"},
		{serveConfig{Name: "n", DataDir: "d", Auth: true, Settings: map[string]string{"auth.required": "false"}}, "auth: true, and settings: auth.required=false: they disagree"},
		{serveConfig{Name: "n", DataDir: "d", Settings: map[string]string{"auth.required": "on"}}, `settings: set auth.required="on": want true or false`},
		{serveConfig{Name: "n", DataDir: "d", Settings: map[string]string{"queue.batch": "0"}}, `settings: set queue.batch="0": must be an integer from 1 to 256`},
		{serveConfig{Name: "n", DataDir: "d", Settings: map[string]string{"queue.batches": "2"}}, `settings: set: no queue setting is named "queue.batches"`},
	} {
		err := tc.c.validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one containing %q", tc.c, err, tc.want)
		}
	}
}

// FuzzServeConfig: no configuration file crashes shoal serve's parser or
// its validation.
func FuzzServeConfig(f *testing.F) {
	f.Add([]byte("name: n1\ndata_dir: d\njoin: [a:1]\nbootstrap_expect: 2\n"))
	f.Add([]byte("tls: {cert: c}\nfailure_domain: {zone: a}\n"))
	f.Add([]byte("&a [*a]"))
	f.Add([]byte("name: n1\ndata_dir: d\nmodel: shop.yaml\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parseServeConfig("f.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.yaml: ") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		_ = c.validate()
	})
}

func TestServeFlagsOverrideTheFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "serve.yaml")
	if err := os.WriteFile(file, []byte("name: from-file\ndata_dir: "+dir+"\nhttp_addr: nowhere\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The file's bad http_addr is overridden by the flag; the flag's bad
	// name is reported.
	code, _, errs := shoal(t, "serve", "--config", file, "--name", "bad/name", "--http-addr", "127.0.0.1:1")
	if code != exitUsage || !strings.Contains(errs, `name "bad/name"`) || strings.Contains(errs, "nowhere") {
		t.Errorf("exit %d, stderr %q: want 3 naming the flag's name and not the file's address", code, errs)
	}
	code, _, errs = shoal(t, "serve", "--dev", "--name", "x")
	if code != exitUsage || !strings.Contains(errs, "--dev takes no other flag") {
		t.Errorf("--dev with a flag: exit %d, %q", code, errs)
	}
	// --setting replaces the file's settings, and a value the cluster
	// would refuse stops serve before it starts anything.
	if err := os.WriteFile(file, []byte("name: n1\ndata_dir: "+dir+"\nsettings: {queue.batch: 0}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, `settings: set queue.batch="0": must be an integer from 1 to 256`},
		{[]string{"--setting", "queue.max_messages=0"}, `settings: set queue.max_messages="0": must be an integer from 1 to`},
		{[]string{"--setting", "queue.window=1h", "--setting", "queue.window=2h"}, `queue.window: given twice ("1h" and "2h")`},
		{[]string{"--setting", "queue.window"}, `"queue.window": want KEY=VALUE`},
		{[]string{"--setting", "queue.batch=1", "--graphql-max-cost", "-1"}, `graphql: max_cost -1: want at least 1`},
		{[]string{"--setting", "queue.batch=1", "--graphql-max-depth", "x"}, `invalid value "x" for flag -graphql-max-depth`},
		{[]string{"--setting", "queue.batch=1", "--graphql-max-response-bytes", "-3"}, `graphql: max_response_bytes -3: want at least 1`},
	} {
		code, _, errs := shoal(t, append([]string{"serve", "--config", file}, tc.args...)...)
		if code != exitUsage || !strings.Contains(errs, tc.want) || tc.args != nil && strings.Contains(errs, "queue.batch=") {
			t.Errorf("%q: exit %d, stderr %q; want 3 and %q (and nothing of the file's settings after a --setting)", tc.args, code, errs, tc.want)
		}
	}
}

// startDev starts `shoal serve --dev` (killed when the test ends) and
// returns its standard output's lines.
func startDev(t *testing.T) (*exec.Cmd, <-chan string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve", "--dev")
	cmd.Env = append(os.Environ(), mainEnv+"=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	return cmd, lines
}

// TestServeDev starts `shoal serve --dev`, follows the URL it prints to
// write and read a key, and stops it with SIGTERM: it exits 0 and removes
// its data directory.
func TestServeDev(t *testing.T) {
	cmd, lines := startDev(t)
	var base, dataDir string
	deadline := time.After(30 * time.Second)
	for base == "" || dataDir == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatal("shoal serve --dev ended before printing its URLs")
			}
			if m := regexp.MustCompile(`key-value API\s+(http://\S+)/v1/kv/\{key\}`).FindStringSubmatch(line); m != nil {
				base = m[1]
			}
			if m := regexp.MustCompile(`^\s+data\s+(\S+)$`).FindStringSubmatch(line); m != nil {
				dataDir = m[1]
			}
		case <-deadline:
			t.Fatal("shoal serve --dev printed no URLs within 30s")
		}
	}
	go func() {
		for range lines {
		}
	}()
	a, err := serveCall("PUT", base+"/v1/kv/greeting", map[string]string{"value": "hello"})
	if err != nil || a.status != 200 {
		t.Fatalf("PUT: %v %+v", err, a)
	}
	a, err = serveCall("GET", base+"/v1/kv/greeting", nil)
	if err != nil || a.status != 200 || a.Value == nil || *a.Value != "hello" {
		t.Fatalf("GET: %v %+v", err, a)
	}
	resp, err := serveClient.Get(base + "/v1/cluster")
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Instances []struct{ Name string } `json:"instances"`
	}
	err = json.NewDecoder(resp.Body).Decode(&c)
	resp.Body.Close()
	if err != nil || len(c.Instances) != 1 || c.Instances[0].Name != "dev" {
		t.Errorf("cluster: %v %+v, want the one instance dev", err, c)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("after SIGTERM: %v, want exit 0", err)
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Errorf("the data directory %s is still there: %v", dataDir, err)
	}
}

// A --graphql-max-... flag overrides its field of the file, and leaves
// the others as the file has them.
func TestGraphQLLimitFlags(t *testing.T) {
	c := serveConfig{GraphQL: graphqlConfig{MaxDepth: 8, MaxCalls: 50, MaxResponseBytes: 1 << 20}}
	var f serveConfig
	set := map[string]bool{}
	for _, l := range f.GraphQL.limits() {
		if l.field == "max_calls" || l.field == "max_objects_read" {
			*l.value = 9
			set[l.flag] = true
		}
	}
	override(&c, f, nil, nil, set)
	if want := (graphql.Limits{MaxDepth: 8, MaxCalls: 9, MaxObjectsRead: 9, MaxResponseBytes: 1 << 20}); c.GraphQL.Limits() != want {
		t.Errorf("limits %+v, want %+v", c.GraphQL.Limits(), want)
	}
}
