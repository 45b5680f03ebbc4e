package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.yaml.in/yaml/v3"

	"github.com/shoaldb/shoal/core/bugs"
	"github.com/shoaldb/shoal/core/cluster"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/graphql"
	"github.com/shoaldb/shoal/core/handler"
	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/live"
	"github.com/shoaldb/shoal/core/model"
	engine "github.com/shoaldb/shoal/core/node"
	"github.com/shoaldb/shoal/scenarios/examples"
)

// serveConfig is shoal serve's configuration: a YAML file, or flags of
// the same names (a flag overrides the file).
type serveConfig struct {
	Name              string            `yaml:"name"`
	PeerAddr          string            `yaml:"peer_addr"`
	AdvertisePeer     string            `yaml:"advertise_peer"`
	HTTPAddr          string            `yaml:"http_addr"`
	DataDir           string            `yaml:"data_dir"`
	FailureDomain     map[string]string `yaml:"failure_domain"`
	Join              []string          `yaml:"join"`
	BootstrapExpect   int               `yaml:"bootstrap_expect"`
	ReplicationFactor int               `yaml:"replication_factor"`
	TLS               tlsConfig         `yaml:"tls"`
	LogLevel          string            `yaml:"log_level"`
	LogFormat         string            `yaml:"log_format"`
	Trace             string            `yaml:"trace"`
	// Routes names, for some peers, the address to dial instead of the
	// one they advertise: `shoal live run` routes every peer link
	// through its fault-injecting proxy this way.
	Routes map[string]string `yaml:"routes"`
	// Bugs are planted bugs to switch on (a shoalbugs build only).
	Bugs []string `yaml:"bugs"`
	// Model is a data model file the cluster should have in force: once
	// the instance is ready it proposes the file unless the model in
	// force is the same.
	Model string `yaml:"model"`
	// Pipeline is an inbound pipeline file (routing rules and handler
	// chains) the cluster should have in force, set once the instance is
	// ready unless the pipeline in force is the same.
	Pipeline string `yaml:"pipeline"`
	// Settings are operator settings (queue.max_messages, ...) the
	// cluster bootstraps with: they count only when it first forms.
	Settings map[string]string `yaml:"settings"`
	// ClusterName names the cluster when it first forms (replication
	// between clusters needs a distinct name for each).
	ClusterName string `yaml:"cluster_name"`
	// HTTPTLS serves the HTTP API as HTTPS.
	HTTPTLS httpTLSConfig `yaml:"http_tls"`
	// Auth turns authentication on from the start (the setting
	// auth.required=true): every request needs a token, the first of
	// which is made without one.
	Auth bool `yaml:"auth"`
	// GraphQL bounds GraphQL requests.
	GraphQL graphqlConfig `yaml:"graphql"`
}

// graphqlConfig bounds each GraphQL request (core/graphql's Limits); 0
// takes the default.
type graphqlConfig struct {
	MaxDepth         int `yaml:"max_depth"`          // how deep fields nest
	MaxCost          int `yaml:"max_cost"`           // each field 1, times the first of every connection above it
	MaxCalls         int `yaml:"max_calls"`          // storage reads and writes of one request
	MaxObjectsRead   int `yaml:"max_objects_read"`   // objects those reads answer
	MaxResponseBytes int `yaml:"max_response_bytes"` // bytes of the response's data
}

// graphqlLimits are the settings of c as core/graphql's Limits, and
// for each its name in the file, its flag and its default.
func (c *graphqlConfig) limits() []graphqlLimit {
	return []graphqlLimit{
		{"max_depth", "graphql-max-depth", &c.MaxDepth, graphql.DefaultMaxDepth, "refuse GraphQL queries whose fields nest more than `N` deep"},
		{"max_cost", "graphql-max-cost", &c.MaxCost, graphql.DefaultMaxCost, "refuse GraphQL queries that cost more than `N`: each field 1, times the first of every connection above it"},
		{"max_calls", "graphql-max-calls", &c.MaxCalls, graphql.DefaultMaxCalls, "fail a GraphQL field that would make more than `N` storage reads and writes in one request"},
		{"max_objects_read", "graphql-max-objects-read", &c.MaxObjectsRead, graphql.DefaultMaxObjectsRead, "fail a GraphQL request whose reads answer more than `N` objects"},
		{"max_response_bytes", "graphql-max-response-bytes", &c.MaxResponseBytes, graphql.DefaultMaxResponseBytes, "fail a GraphQL request whose data grows past `N` bytes"},
	}
}

// graphqlLimit is one setting of graphqlConfig.
type graphqlLimit struct {
	field, flag string
	value       *int
	def         int
	usage       string
}

// Limits is c as the API takes it (0: the default).
func (c graphqlConfig) Limits() graphql.Limits {
	return graphql.Limits{MaxDepth: c.MaxDepth, MaxCost: c.MaxCost, MaxCalls: c.MaxCalls, MaxObjectsRead: c.MaxObjectsRead, MaxResponseBytes: c.MaxResponseBytes}
}

type tlsConfig struct {
	Cert string `yaml:"cert"` // this instance's certificate (PEM)
	Key  string `yaml:"key"`  // its private key (PEM)
	CA   string `yaml:"ca"`   // the CA that signed the peers' certificates
	// ClientAuth requires peers to present a certificate the CA signed
	// (mutual TLS).
	ClientAuth bool `yaml:"client_auth"`
}

// httpTLSConfig is the HTTP port's certificate: clients verify it against
// the system's roots, or a CA they are given (--ca).
type httpTLSConfig struct {
	Cert string `yaml:"cert"` // the certificate (PEM), intermediates after it
	Key  string `yaml:"key"`  // its private key (PEM)
}

// config loads the certificate; nil when none is configured.
func (c httpTLSConfig) config() (*tls.Config, error) {
	if c.Cert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.Cert, c.Key)
	if err != nil {
		return nil, fmt.Errorf("http_tls: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// Defaults of shoal serve.
const (
	// compactEvery is how many applied entries a group keeps before it
	// snapshots its state machine. A snapshot serialises the whole state
	// on the engine's loop and writes it into the log: at the simulator's
	// 1,000 entries, a 3-node cluster taking 5,000 writes/s over 10,000
	// keys spent 16% of the leader's CPU there, plus pebble compacting
	// what it wrote, and it stalled every request behind it. Ten times
	// further apart costs a longer log (a few MB) and a bigger catch-up
	// for a follower that falls behind.
	compactEvery = 10_000

	defaultPeerAddr = "127.0.0.1:7071"
	defaultHTTPAddr = "127.0.0.1:7070"
)

// goTypeName is the Go type yaml names in its errors, which says nothing
// to the person who wrote the file.
var goTypeName = regexp.MustCompile(` in type [\w.]+`)

// parseServeConfig reads a configuration file strictly: unknown fields,
// duplicate keys and wrong types are errors naming the line.
func parseServeConfig(file string, data []byte) (serveConfig, error) {
	var c serveConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			msgs := make([]string, len(te.Errors))
			for i, e := range te.Errors {
				msgs[i] = file + ": " + goTypeName.ReplaceAllString(e, "")
			}
			return serveConfig{}, errors.New(strings.Join(msgs, "; "))
		}
		return serveConfig{}, fmt.Errorf("%s: %s", file, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return serveConfig{}, fmt.Errorf("%s: holds more than one YAML document", file)
	}
	return c, nil
}

// validate checks a configuration and fills its defaults.
func (c *serveConfig) validate() error {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if c.Name == "" {
		bad("name: required (--name)")
	} else if strings.ContainsAny(c.Name, "/, \t\n") {
		bad("name %q: must not hold '/', ',' or spaces", c.Name)
	}
	if c.DataDir == "" {
		bad("data_dir: required (--data-dir)")
	}
	if c.PeerAddr == "" {
		c.PeerAddr = defaultPeerAddr
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = defaultHTTPAddr
	}
	for _, a := range append([]string{c.PeerAddr, c.HTTPAddr}, c.Join...) {
		if _, _, err := net.SplitHostPort(a); err != nil {
			bad("address %q: want host:port", a)
		}
	}
	if c.BootstrapExpect < 0 {
		bad("bootstrap_expect %d: want at least 1", c.BootstrapExpect)
	}
	if c.BootstrapExpect > 1 && len(c.Join) == 0 {
		bad("bootstrap_expect %d needs join: the peer addresses of the other instances", c.BootstrapExpect)
	}
	if c.ReplicationFactor < 0 {
		bad("replication_factor %d: want at least 1", c.ReplicationFactor)
	}
	if c.ClusterName != "" {
		if err := kv.CheckClusterName(c.ClusterName); err != nil {
			bad("cluster_name: %v", err)
		}
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		bad("tls: cert and key go together")
	}
	if (c.TLS.CA != "" || c.TLS.ClientAuth) && c.TLS.Cert == "" {
		bad("tls: ca and client_auth need cert and key")
	}
	if c.TLS.ClientAuth && c.TLS.CA == "" {
		bad("tls: client_auth needs ca, to verify the peers' certificates")
	}
	if (c.HTTPTLS.Cert == "") != (c.HTTPTLS.Key == "") {
		bad("http_tls: cert and key go together")
	}
	for _, l := range c.GraphQL.limits() {
		if *l.value < 0 {
			bad("graphql: %s %d: want at least 1 (0 or none: the default, %d)", l.field, *l.value, l.def)
		}
	}
	if c.Auth {
		if v, ok := c.Settings[cluster.AuthRequired]; ok && v != "true" {
			bad("auth: true, and settings: %s=%s: they disagree", cluster.AuthRequired, v)
		} else {
			if c.Settings == nil {
				c.Settings = map[string]string{}
			}
			c.Settings[cluster.AuthRequired] = "true"
		}
	}
	switch c.LogLevel {
	case "", "debug", "info", "warn", "error":
	default:
		bad("log_level %q: want debug, info, warn or error", c.LogLevel)
	}
	switch c.LogFormat {
	case "", "text", "json":
	default:
		bad("log_format %q: want text or json", c.LogFormat)
	}
	for _, name := range slices.Sorted(maps.Keys(c.Routes)) {
		if _, _, err := net.SplitHostPort(c.Routes[name]); err != nil {
			bad("routes: %s: address %q: want host:port", name, c.Routes[name])
		}
	}
	for _, name := range c.Bugs {
		if _, err := bugs.Parse(name); err != nil {
			bad("bugs: %v", err)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(c.Settings)) {
		if err := cluster.CheckSetting(k, c.Settings[k]); err != nil {
			bad("settings: %v", err)
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// tlsConfigs builds the peer port's TLS from the files named.
func (c tlsConfig) configs() (server, client *tls.Config, err error) {
	if c.Cert == "" {
		return nil, nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.Cert, c.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("tls: %w", err)
	}
	server = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}
	client = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}
	if c.CA != "" {
		pem, err := os.ReadFile(c.CA)
		if err != nil {
			return nil, nil, fmt.Errorf("tls: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("tls: %s holds no PEM certificate", c.CA)
		}
		client.RootCAs = pool
		server.ClientCAs = pool
		if c.ClientAuth {
			server.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	return server, client, nil
}

// keyValues parses "k=v,k=v".
type keyValues map[string]string

func (kv *keyValues) String() string { return fmt.Sprint(map[string]string(*kv)) }
func (kv *keyValues) Set(s string) error {
	if *kv == nil {
		*kv = keyValues{}
	}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(part, "=")
		if !ok || k == "" || v == "" {
			return fmt.Errorf("%q: want key=value pairs separated by commas", part)
		}
		(*kv)[k] = v
	}
	return nil
}

// settingFlags parses repeated KEY=VALUE flags, one setting each: the
// value is everything after the first '=', commas included.
type settingFlags map[string]string

func (s *settingFlags) String() string { return fmt.Sprint(map[string]string(*s)) }
func (s *settingFlags) Set(arg string) error {
	k, v, ok := strings.Cut(arg, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q: want KEY=VALUE", arg)
	}
	if *s == nil {
		*s = settingFlags{}
	}
	if old, dup := (*s)[k]; dup && old != v {
		return fmt.Errorf("%s: given twice (%q and %q)", k, old, v)
	}
	(*s)[k] = v
	return nil
}

// commaList parses "a,b,c".
type commaList []string

func (l *commaList) String() string { return strings.Join(*l, ",") }
func (l *commaList) Set(s string) error {
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			*l = append(*l, a)
		}
	}
	return nil
}

const serveUsage = `usage: shoal serve [--config FILE] [flags]
       shoal serve --dev

Runs one shoal instance: the engine on this machine's disk and clock, its
peers over TCP, and the HTTP API for clients. Every flag has a
configuration-file field of the same name with underscores (peer_addr);
a flag overrides the file.

Forming a cluster: start every instance with the same --join (the peer
addresses of the others) and --bootstrap-expect N; the cluster forms once N
instances know each other. An instance that formed its cluster before
(its data directory holds members.json) rejoins it at once. --join
without --bootstrap-expect joins the formed cluster of a listed member: the
instance becomes a replica of the replicaset with the fewest members. With
neither --join nor --bootstrap-expect an instance forms a cluster of itself
alone.

--model FILE: once the instance is ready, it proposes the data model in
FILE unless the cluster has that model in force already (instances given
the same file agree: one proposal wins, the others find it in force). A
file that is not a valid model stops the instance at start (exit 3).
--pipeline FILE: the same for the inbound pipeline (routing rules and
handler chains), set after the model; a pipeline that names a handler
this binary lacks stops the instance at start (exit 3).
--setting KEY=VALUE (repeatable): an operator setting the cluster forms
with: the inbound queue's queue.max_messages, queue.max_bytes,
queue.window, queue.max_ids, queue.batch and queue.retry_after
(core/README.md, "The inbound pipeline"). Settings count only when the
cluster first forms: every instance that forms it must be given the
same ones (instances that disagree form no cluster together), and an
instance that restarts or joins a formed cluster keeps the cluster's,
whatever it is given. A value the cluster would refuse stops the
instance at start (exit 3).
--dev serves the example model and pipeline (scenarios/examples/), with
authentication off, and writes the example dataset (a few customers,
products, orders and shipments: scenarios/examples/dataset.json) so that
a query has something to find.

Access: the API takes requests without a token until the cluster's first
API token exists (shoal token create NAME --role admin; core/README.md,
"Access: tokens and roles"); from then on every request but /healthz and
/readyz needs one, as Authorization: Bearer TOKEN. --auth turns
authentication on from the start (the setting auth.required=true): the
first token is then made without one, once. --http-tls-cert and
--http-tls-key serve the API as HTTPS (clients: --addr https://HOST:PORT,
and --ca FILE for a private CA).

SIGTERM or SIGINT stops the instance cleanly; after any crash, the same
command line recovers it from its data directory. SIGUSR1 records each
Raft group's applied index and state digest in the --trace file, so that
a harness can compare the replicas (shoal live run does).

flags:
`

func runServe(args []string, stdout, stderr io.Writer) (int, error) {
	cpuProfile, args, err := cutCPUProfileFlag(args)
	if err != nil {
		return exitUsage, err
	}
	fs := flag.NewFlagSet("shoal serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		configFile = fs.String("config", "", "a YAML configuration `file` (fields: name, peer_addr, advertise_peer, http_addr, data_dir, failure_domain, join, bootstrap_expect, replication_factor, cluster_name, tls: {cert, key, ca, client_auth}, http_tls: {cert, key}, auth, graphql: {max_depth, max_cost, max_calls, max_objects_read, max_response_bytes}, log_level, log_format, trace, routes, bugs, model, pipeline, settings)")
		dev        = fs.Bool("dev", false, "start a single-instance cluster on free localhost ports with a temporary data directory, and print its URLs")
		flags      serveConfig
		domain     keyValues
		join       commaList
	)
	fs.StringVar(&flags.Name, "name", "", "the instance's `name`, unique in its cluster (required)")
	fs.StringVar(&flags.PeerAddr, "peer-addr", "", "`host:port` to listen on for peers (default "+defaultPeerAddr+")")
	fs.StringVar(&flags.AdvertisePeer, "advertise-peer", "", "`host:port` peers should dial, when it differs from --peer-addr")
	fs.StringVar(&flags.HTTPAddr, "http-addr", "", "`host:port` to serve the HTTP API on (default "+defaultHTTPAddr+")")
	fs.StringVar(&flags.DataDir, "data-dir", "", "the `directory` holding the instance's log, store and members.json (required)")
	fs.Var(&domain, "failure-domain", "the instance's failure domain, as `k=v,...` (zone=a,rack=r1); instances that share a value are kept apart")
	fs.Var(&join, "join", "peer addresses of other members, `ADDR,...`: with --bootstrap-expect, to form a cluster; alone, to join a formed one")
	fs.IntVar(&flags.BootstrapExpect, "bootstrap-expect", 0, "form a new cluster once `N` instances (this one included) know each other through --join")
	fs.IntVar(&flags.ReplicationFactor, "replication-factor", 0, "instances per replicaset when the cluster forms (default: all of them)")
	fs.StringVar(&flags.ClusterName, "cluster-name", "", "the cluster's `name` when it forms (lower-case letters, digits, '-'): replication between clusters needs a distinct one for each")
	fs.StringVar(&flags.TLS.Cert, "tls-cert", "", "the instance's certificate `file` (PEM) for the peer port")
	fs.StringVar(&flags.TLS.Key, "tls-key", "", "its private key `file` (PEM)")
	fs.StringVar(&flags.TLS.CA, "tls-ca", "", "the CA certificate `file` that verifies peers")
	fs.BoolVar(&flags.TLS.ClientAuth, "tls-client-auth", false, "require peers to present a certificate the CA signed (mutual TLS)")
	fs.StringVar(&flags.HTTPTLS.Cert, "http-tls-cert", "", "a certificate `file` (PEM) to serve the HTTP API as HTTPS with")
	fs.StringVar(&flags.HTTPTLS.Key, "http-tls-key", "", "its private key `file` (PEM)")
	fs.BoolVar(&flags.Auth, "auth", false, "turn authentication on when the cluster forms, before it has a token (the setting auth.required=true); the first token is made without one")
	for _, l := range flags.GraphQL.limits() {
		fs.IntVar(l.value, l.flag, 0, fmt.Sprintf("%s (default %d)", l.usage, l.def))
	}
	fs.StringVar(&flags.LogLevel, "log-level", "", "debug, info (default), warn or error")
	fs.StringVar(&flags.LogFormat, "log-format", "", "text (default) or json")
	fs.StringVar(&flags.Model, "model", "", "a data model `file` (YAML) the cluster should have in force: proposed once the instance is ready, unless it is in force already")
	fs.StringVar(&flags.Pipeline, "pipeline", "", "an inbound pipeline `file` (YAML: routing rules and handler chains) the cluster should have in force: set once the instance is ready, unless it is in force already")
	fs.StringVar(&flags.Trace, "trace", "", "write the engine's trace, as JSON lines, to `file`; SIGUSR1 adds each group's state digest to it")
	var routes keyValues
	fs.Var(&routes, "route", "dial peer NAME at ADDR whatever it advertises, as `NAME=ADDR,...` (a proxy on each peer link, as shoal live run sets)")
	var bugNames listFlag
	fs.Var(&bugNames, "bug", "switch a planted bug on (repeatable; needs a build with -tags shoalbugs)")
	var settings settingFlags
	fs.Var(&settings, "setting", "an operator setting the cluster forms with, as `KEY=VALUE` (repeatable): queue.max_messages=5000; counts only when the cluster first forms")
	fs.Usage = func() {
		fmt.Fprint(stderr, serveUsage)
		fs.PrintDefaults()
	}
	if _, done, code, err := parseArgs(fs, args, 0, "no argument"); done {
		return code, err
	}
	var c serveConfig
	if *configFile != "" {
		data, err := os.ReadFile(*configFile)
		if err != nil {
			return exitUsage, usageError{err.Error()}
		}
		if c, err = parseServeConfig(*configFile, data); err != nil {
			return exitUsage, usageError{err.Error()}
		}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	override(&c, flags, domain, join, set)
	if set["route"] {
		c.Routes = routes
	}
	if set["bug"] {
		c.Bugs = bugNames
	}
	if set["setting"] {
		c.Settings = settings
	}
	if *dev {
		for name := range set {
			if !slices.Contains([]string{"dev", "model", "pipeline", "setting"}, name) && !strings.HasPrefix(name, "graphql-") {
				return exitUsage, usagef("--dev takes no other flag but --model, --pipeline, --setting and the --graphql-max-... limits")
			}
		}
		dir, err := os.MkdirTemp("", "shoal-dev-")
		if err != nil {
			return exitInternal, err
		}
		defer os.RemoveAll(dir)
		c = serveConfig{Name: "dev", PeerAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", DataDir: dir, Model: c.Model, Pipeline: c.Pipeline, Settings: c.Settings,
			GraphQL: c.GraphQL}
	}
	if err := c.validate(); err != nil {
		return exitUsage, usageError{err.Error()}
	}
	var want *wantModel
	var devData []devObject
	switch {
	case c.Model != "":
		src, err := os.ReadFile(c.Model)
		if err != nil {
			return exitUsage, usageError{"model: " + err.Error()}
		}
		m, err := model.Parse(c.Model, src)
		if err != nil {
			return exitUsage, usageError{err.Error()}
		}
		want = &wantModel{file: c.Model, source: src, digest: m.Digest()}
	case *dev:
		m, err := model.Parse(devModelFile, examples.Model)
		if err != nil {
			return exitInternal, fmt.Errorf("the example model: %w", err)
		}
		want = &wantModel{file: devModelFile, source: examples.Model, digest: m.Digest()}
		if devData, err = parseDataset(devDatasetFile, examples.Dataset, m); err != nil {
			return exitInternal, err
		}
	}
	var pipe *wantPipeline
	switch {
	case c.Pipeline != "":
		src, err := os.ReadFile(c.Pipeline)
		if err != nil {
			return exitUsage, usageError{"pipeline: " + err.Error()}
		}
		if _, err := handler.Parse(c.Pipeline, src); err != nil {
			return exitUsage, usageError{err.Error()}
		}
		pipe = &wantPipeline{file: c.Pipeline, source: src}
	case *dev && c.Model == "":
		pipe = &wantPipeline{file: devPipelineFile, source: examples.Pipeline}
	}
	if cpuProfile != "" {
		stop, err := startCPUProfile(cpuProfile)
		if err != nil {
			return exitUsage, err
		}
		defer stop()
	}
	return serve(c, want, pipe, devData, *dev, stdout, stderr)
}

// devPipelineFile names the example pipeline that --dev serves with the
// example model.
const devPipelineFile = "scenarios/examples/pipeline.yaml"

// devModelFile names the example model that --dev serves.
const devModelFile = "scenarios/examples/model.yaml"

// devDatasetFile names the objects --dev writes when it serves the
// example model.
const devDatasetFile = "scenarios/examples/dataset.json"

// override sets the fields whose flags were given.
func override(c *serveConfig, f serveConfig, domain keyValues, join commaList, set map[string]bool) {
	str := map[string]*[2]*string{
		"name": {&c.Name, &f.Name}, "peer-addr": {&c.PeerAddr, &f.PeerAddr}, "advertise-peer": {&c.AdvertisePeer, &f.AdvertisePeer},
		"http-addr": {&c.HTTPAddr, &f.HTTPAddr}, "data-dir": {&c.DataDir, &f.DataDir}, "tls-cert": {&c.TLS.Cert, &f.TLS.Cert},
		"tls-key": {&c.TLS.Key, &f.TLS.Key}, "tls-ca": {&c.TLS.CA, &f.TLS.CA}, "log-level": {&c.LogLevel, &f.LogLevel},
		"log-format": {&c.LogFormat, &f.LogFormat}, "trace": {&c.Trace, &f.Trace}, "model": {&c.Model, &f.Model},
		"pipeline": {&c.Pipeline, &f.Pipeline}, "cluster-name": {&c.ClusterName, &f.ClusterName},
		"http-tls-cert": {&c.HTTPTLS.Cert, &f.HTTPTLS.Cert}, "http-tls-key": {&c.HTTPTLS.Key, &f.HTTPTLS.Key},
	}
	for name, p := range str {
		if set[name] {
			*p[0] = *p[1]
		}
	}
	if set["failure-domain"] {
		c.FailureDomain = domain
	}
	if set["join"] {
		c.Join = join
	}
	if set["bootstrap-expect"] {
		c.BootstrapExpect = f.BootstrapExpect
	}
	if set["replication-factor"] {
		c.ReplicationFactor = f.ReplicationFactor
	}
	if set["tls-client-auth"] {
		c.TLS.ClientAuth = f.TLS.ClientAuth
	}
	if set["auth"] {
		c.Auth = f.Auth
	}
	to, from := c.GraphQL.limits(), f.GraphQL.limits()
	for i, l := range from {
		if set[l.flag] {
			*to[i].value = *l.value
		}
	}
}

// serve runs an instance with c, bringing want and pipe into force
// once it is ready; with dev, it also writes devData (the example
// dataset, when want is the example model) and prints how to reach it.
func serve(c serveConfig, want *wantModel, pipe *wantPipeline, devData []devObject, dev bool, stdout, stderr io.Writer) (int, error) {
	// Caught from the start: a SIGUSR1 that came while the store opens
	// would otherwise end the process. It is answered once the engine runs.
	digest := make(chan os.Signal, 1)
	signal.Notify(digest, syscall.SIGUSR1)
	defer signal.Stop(digest)
	level := map[string]slog.Level{"": slog.LevelInfo, "debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}[c.LogLevel]
	var handler slog.Handler = slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})
	if c.LogFormat == "json" {
		handler = slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level})
	}
	log := slog.New(handler)
	serverTLS, clientTLS, err := c.TLS.configs()
	if err != nil {
		return exitUsage, usageError{err.Error()}
	}
	httpTLS, err := c.HTTPTLS.config()
	if err != nil {
		return exitUsage, usageError{err.Error()}
	}
	scheme := "http"
	if httpTLS != nil {
		scheme = "https"
	}
	httpListener, err := net.Listen("tcp", c.HTTPAddr)
	if err != nil {
		return exitUsage, usageError{fmt.Sprintf("http_addr %s: %v", c.HTTPAddr, err)}
	}
	defer httpListener.Close()
	var trace *os.File
	if c.Trace != "" {
		if trace, err = os.OpenFile(c.Trace, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
			return exitUsage, usageError{err.Error()}
		}
		defer trace.Close()
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var planted bugs.Set
	for _, name := range c.Bugs {
		b, _ := bugs.Parse(name) // validate checked it
		planted |= b
	}
	routes := map[env.NodeID]string{}
	for name, addr := range c.Routes {
		routes[env.NodeID(name)] = addr
	}
	cfg := live.Config{
		Name: env.NodeID(c.Name), Routes: routes, Engine: engine.Config{Bugs: planted, CompactEvery: compactEvery}, DataDir: c.DataDir, PeerAddr: c.PeerAddr, AdvertisePeer: c.AdvertisePeer,
		HTTPAddr: httpListener.Addr().String(), Domain: c.FailureDomain, Join: c.Join,
		BootstrapExpect: c.BootstrapExpect, ReplicationFactor: c.ReplicationFactor, Settings: c.Settings, ClusterName: c.ClusterName,
		ServerTLS: serverTLS, ClientTLS: clientTLS, Logger: log, Registry: reg,
	}
	if trace != nil {
		cfg.Trace = trace
	}
	n, err := live.Open(cfg)
	if err != nil {
		return exitInternal, err
	}
	defer n.Close()
	srv := &http.Server{Handler: live.NewAPI(n, live.APIOptions{Logger: log, Registry: reg,
		GraphQL: c.GraphQL.Limits()}), ReadHeaderTimeout: 10 * time.Second, TLSConfig: httpTLS}
	httpDone := make(chan error, 1)
	go func() {
		if httpTLS != nil {
			httpDone <- srv.ServeTLS(httpListener, "", "")
			return
		}
		httpDone <- srv.Serve(httpListener)
	}()
	log.Info("serving", "http", scheme+"://"+httpListener.Addr().String(), "peer", n.PeerAddr(), "data_dir", c.DataDir)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	formed := make(chan error, 1)
	go func() {
		// Ready once group 0 has caught up, too: before, every request
		// would be answered 503 (the tokens in force are not known).
		err := n.Form(ctx)
		if err == nil {
			err = n.AwaitAccess(ctx)
		}
		formed <- err
	}()
	// The model is proposed in the background, so that signals are still
	// answered; it stops with the process.
	modelCtx, stopModel := context.WithCancel(ctx)
	defer stopModel()
	var modelDone chan struct{}
	code, result := func() (int, error) {
		for {
			select {
			case err := <-formed:
				formed = nil
				if err != nil {
					if ctx.Err() != nil {
						return exitValid, nil // stopped while forming
					}
					return exitInternal, err
				}
				log.Info("ready to serve", "http", httpListener.Addr().String())
				if want != nil || pipe != nil {
					modelDone = make(chan struct{})
					go func(done chan struct{}) {
						defer close(done)
						if want != nil {
							applyModel(modelCtx, n, *want, log, modelRetry)
						}
						if pipe != nil {
							applyPipeline(modelCtx, n, *pipe, log, modelRetry)
						}
						if dev && want != nil && want.file == devModelFile {
							if err := loadDataset(modelCtx, "http://"+httpListener.Addr().String(), devData, log, modelRetry); err != nil {
								log.Error("the example dataset is not loaded", "error", err)
							} else {
								log.Info("the example dataset is loaded", "file", devDatasetFile, "objects", len(devData))
							}
						}
					}(modelDone)
				}
				if dev && want == nil && pipe == nil {
					printDev(stdout, c, "http://"+httpListener.Addr().String(), "", "")
				}
			case <-modelDone:
				modelDone = nil
				if dev {
					// Once the model and pipeline are settled, so that the
					// examples work.
					modelFile, pipeFile := "", ""
					if want != nil {
						modelFile = want.file
					}
					if pipe != nil {
						pipeFile = pipe.file
					}
					printDev(stdout, c, "http://"+httpListener.Addr().String(), modelFile, pipeFile)
				}
			case <-digest:
				n.RecordDigests()
			case <-n.Dead():
				return exitInternal, fmt.Errorf("the engine stopped: %w", n.Err())
			case err := <-httpDone:
				return exitInternal, fmt.Errorf("http: %w", err)
			case <-ctx.Done():
				log.Info("stopping", "reason", "signal")
				return exitValid, nil
			}
		}
	}()
	stopModel()
	if modelDone != nil {
		<-modelDone
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	n.Close()
	if code == exitValid {
		log.Info("stopped cleanly")
	}
	return code, result
}

func printDev(w io.Writer, c serveConfig, base, modelFile, pipelineFile string) {
	fmt.Fprintf(w, "shoal dev instance %q is up (a cluster of one; its data is removed on exit)\n", c.Name)
	fmt.Fprintf(w, "  key-value API  %s/v1/kv/{key}\n", base)
	if modelFile != "" {
		fmt.Fprintf(w, "  data API       %s/v1/data/{type}/{key}  (model: %s; %s/v1/model?format=yaml)\n", base, modelFile, base)
		fmt.Fprintf(w, "  GraphQL        %s/v1/graphql  (POST {\"query\": ...}; the schema: %s/v1/graphql/schema)\n", base, base)
	}
	fmt.Fprintf(w, "  cluster        %s/v1/cluster\n  metrics        %s/metrics\n  data           %s\n", base, base, c.DataDir)
	fmt.Fprintf(w, "try:\n  curl -X PUT -d '{\"value\":\"hello\"}' %s/v1/kv/greeting\n  curl %s/v1/kv/greeting\n", base, base)
	if modelFile == devModelFile {
		fmt.Fprintf(w, "  # a Customer written in version 1 of its type, read back in version 2 (name split, tier and newsletter added):\n")
		fmt.Fprintf(w, "  curl -X PUT -d '%s' '%s/v1/data/Customer?version=1'\n", devCustomer, base)
		fmt.Fprintf(w, "  curl %s/v1/data/Customer/c1\n", base)
		fmt.Fprintf(w, "  # the example dataset (%s) through GraphQL: a customer and their orders:\n", devDatasetFile)
		fmt.Fprintf(w, "  curl -d '%s' %s/v1/graphql\n", devQuery, base)
	}
	if pipelineFile == devPipelineFile && modelFile == devModelFile {
		fmt.Fprintf(w, "  # a crm message through the inbound pipeline (%s), stored as Customer c2:\n", pipelineFile)
		fmt.Fprintf(w, "  curl -X POST -H 'Idempotency-Key: m1' -H 'X-Kind: customer' -d '%s' %s/v1/ingest/crm\n", devMessage, base)
		fmt.Fprintf(w, "  curl %s/v1/data/Customer/c2\n  curl %s/v1/queue\n", base, base)
	}
}

// devQuery is printDev's example GraphQL request, over the example
// dataset.
const devQuery = `{"query": "{ Customer(id: \"turing\") { first_name tier orders { edges { node { id status total } } } } }"}`

// devMessage is printDev's example message from the crm connector.
const devMessage = `{"customer":{"id":"c2","name":"Grace Hopper","email":"grace@example.com"},"created_at":"2024-01-02T03:04:05Z"}`

// wantPipeline is the pipeline an instance was given (--pipeline).
type wantPipeline struct {
	file   string
	source []byte
}

// pipelineSetter is what applyPipeline needs of the instance.
type pipelineSetter interface {
	Pipeline(ctx context.Context) (live.PipelineStatus, error)
	SetPipeline(ctx context.Context, source []byte) (int, error)
}

// applyPipeline brings want into force unless it is already, trying again
// while the outcome is unknown or the cluster unavailable, until ctx
// ends. Instances given the same file all call it; one sets it and the
// others find it in force.
func applyPipeline(ctx context.Context, b pipelineSetter, want wantPipeline, log *slog.Logger, p retryPolicy) {
	log = log.With("pipeline", want.file)
	pause := p.first
	for attempt := 1; ; attempt++ {
		err := func() error {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			st, err := b.Pipeline(cctx)
			if err != nil {
				return err
			}
			if st.Source == string(want.source) {
				log.Info("pipeline: in force", "revision", st.Revision)
				return nil
			}
			pctx, cancel := context.WithTimeout(ctx, p.proposeWithin)
			defer cancel()
			rev, err := b.SetPipeline(pctx, want.source)
			if err == nil {
				log.Info("pipeline: set", "revision", rev)
			}
			return err
		}()
		switch {
		case err == nil || ctx.Err() != nil:
			return
		case !retriable(err):
			log.Error("pipeline: not set", "error", err)
			return
		case attempt >= p.attempts:
			log.Error("pipeline: not set, giving up", "attempts", attempt, "error", err)
			return
		}
		log.Warn("pipeline: not set yet, trying again", "in", pause, "error", err)
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return
		}
		pause = min(2*pause, p.most)
	}
}

// devCustomer is printDev's example object: a Customer at version 1 of
// the example model.
const devCustomer = `{"id":"c1","name":"Ada Lovelace","email":"ada@example.com","created":"2024-01-02T03:04:05Z"}`

// wantModel is the data model an instance was given (--model): its file,
// source and digest.
type wantModel struct {
	file   string
	source []byte
	digest string
}

// retryPolicy bounds applyModel's attempts.
type retryPolicy struct {
	attempts      int           // proposals and checks, at most
	first, most   time.Duration // the pause after the first failure, and the longest pause
	proposeWithin time.Duration // how long one proposal may wait for the decision
}

// modelRetry is shoal serve's policy: about a minute and a half of
// attempts while the cluster has no quorum.
var modelRetry = retryPolicy{attempts: 8, first: 500 * time.Millisecond, most: 8 * time.Second, proposeWithin: 30 * time.Second}

// applyModel brings want into force unless it is already: it proposes it
// and logs the outcome, trying again while the outcome is unknown or the
// cluster unavailable (or busy with another change), until ctx ends.
// Instances given the same file all call it: one proposal wins, and the
// others find its digest in force (or are refused as unchanged), which is
// no error.
// modelProposer is what applyModel needs of the instance.
type modelProposer interface {
	Models(ctx context.Context) (live.ModelStatus, error)
	ProposeModel(ctx context.Context, source []byte) (int, error)
}

func applyModel(ctx context.Context, b modelProposer, want wantModel, log *slog.Logger, p retryPolicy) {
	log = log.With("model", want.file, "digest", want.digest)
	pause := p.first
	for attempt := 1; ; attempt++ {
		retry, err := proposeModel(ctx, b, want, log, p)
		if !retry || ctx.Err() != nil {
			return
		}
		if attempt >= p.attempts {
			log.Error("model: not applied, giving up", "attempts", attempt, "error", err)
			return
		}
		level := slog.LevelWarn
		if errors.Is(err, live.ErrModelRefused) {
			level = slog.LevelInfo // another change goes first: no fault of ours
		}
		log.Log(ctx, level, "model: not applied yet, trying again", "in", pause, "error", err)
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return
		}
		pause = min(2*pause, p.most)
	}
}

// proposeModel makes one attempt: it reports whether another may succeed,
// and why this one did not.
func proposeModel(ctx context.Context, b modelProposer, want wantModel, log *slog.Logger, p retryPolicy) (retry bool, err error) {
	inForce := func() (bool, error) {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		st, err := b.Models(cctx)
		if err != nil {
			return false, err
		}
		if n := len(st.Revisions); n > 0 && st.Revisions[n-1].Digest == want.digest {
			log.Info("model: in force", "revision", st.Revisions[n-1].Revision)
			return true, nil
		}
		return false, nil
	}
	done, err := inForce()
	if err != nil || done {
		return err != nil && retriable(err), err
	}
	pctx, cancel := context.WithTimeout(ctx, p.proposeWithin)
	defer cancel()
	rev, err := b.ProposeModel(pctx, want.source)
	switch {
	case err == nil:
		log.Info("model: accepted", "revision", rev)
		return false, nil
	case errors.Is(err, live.ErrModelRefused):
		// Another instance given the same file may have won meanwhile.
		if done, cerr := inForce(); cerr == nil && done {
			return false, nil
		}
		if strings.Contains(err.Error(), "still being validated") {
			log.Info("model: another change is being decided; waiting for it", "reason", err)
			return true, err
		}
		if strings.Contains(err.Error(), "unchanged") {
			log.Info("model: in force", "reason", err)
			return false, nil
		}
		log.Error("model: refused", "error", err)
		return false, err
	case retriable(err):
		return true, err
	}
	log.Error("model: proposing failed", "error", err)
	return false, err
}

// retriable reports whether a model operation may be tried again: its
// outcome was unknown, or nothing was done.
func retriable(err error) bool {
	return errors.Is(err, live.ErrUnknownOutcome) || errors.Is(err, live.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
}
