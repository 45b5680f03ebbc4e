package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shoaldb/shoal/core/live"
)

// defaultAddr is where the kv and status commands look for a node unless
// --addr or SHOAL_ADDR says otherwise: shoal serve's default HTTP port.
const defaultAddr = "http://127.0.0.1:7070"

// clientFlags are the flags of every command that talks to a node's API.
type clientFlags struct {
	addr    string
	json    bool
	timeout time.Duration
	token   string // --token, before the environment is consulted
	ca      string
	fs      *flag.FlagSet // to tell a --token given empty from none
}

func addClientFlags(fs *flag.FlagSet) *clientFlags {
	c := &clientFlags{fs: fs}
	addr := os.Getenv("SHOAL_ADDR")
	if addr == "" {
		addr = defaultAddr
	}
	fs.StringVar(&c.addr, "addr", addr, "comma-separated HTTP addresses of any nodes, tried in turn: http://HOST:PORT or https://HOST:PORT (env SHOAL_ADDR)")
	fs.BoolVar(&c.json, "json", false, "print the node's JSON answer as it is")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "how long to wait for an answer")
	fs.StringVar(&c.token, "token", "", apiTokenUsage)
	fs.StringVar(&c.ca, "ca", os.Getenv(caEnv), caUsage)
	return c
}

// apiClient sends requests to the first node of addrs that takes them.
type apiClient struct {
	addrs []string // base URLs, no trailing slash
	http  *http.Client
	token string // sent as a bearer token unless a request sets its own
}

func (c *clientFlags) client() (*apiClient, error) {
	var addrs []string
	for _, a := range strings.Split(c.addr, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if !strings.Contains(a, "://") {
			a = "http://" + a
		}
		u, err := url.Parse(a)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return nil, usagef("--addr: %q is not an address such as %s", a, defaultAddr)
		}
		addrs = append(addrs, u.Scheme+"://"+u.Host)
	}
	if len(addrs) == 0 {
		return nil, usagef("--addr: no address given")
	}
	if c.timeout <= 0 {
		return nil, usagef("--timeout %s: want a positive duration", c.timeout)
	}
	token := ""
	if c.fs != nil {
		var err error
		if token, err = bearerToken(c.fs, c.token, apiTokenEnv); err != nil {
			return nil, err
		}
	}
	tlsConf, err := trustCA(c.ca)
	if err != nil {
		return nil, err
	}
	return &apiClient{
		addrs: addrs,
		token: token,
		http: &http.Client{
			Timeout: c.timeout,
			Transport: &http.Transport{
				// Nodes are reached directly: through a proxy, an unreachable
				// node would look like an answer (502) and not be skipped.
				Proxy:               nil,
				DialContext:         (&net.Dialer{Timeout: min(c.timeout, 3*time.Second)}).DialContext,
				TLSHandshakeTimeout: min(c.timeout, 3*time.Second),
				TLSClientConfig:     tlsConf,
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

// apiReply is a node's answer.
type apiReply struct {
	addr   string
	status int
	body   []byte
}

// errUnknownOutcome: a write was sent and no answer came back.
type errUnknownOutcome struct{ err error }

func (e errUnknownOutcome) Error() string {
	return fmt.Sprintf("%s (%v)", live.ErrUnknownOutcome, e.err)
}

// unanswered is the exit code of a request that got no answer (c.do's
// error): 2 when a write's outcome is unknown, else 4.
func unanswered(err error) (int, error) {
	var unknown errUnknownOutcome
	if errors.As(err, &unknown) {
		return exitUnknown, err
	}
	return exitInternal, err
}

// do sends the request to each address in turn until one answers. It goes
// on to the next address when a node cannot be reached (nothing was sent)
// or answers 503 (it did nothing); after any other failure it goes on only
// if safe (a read), since a write may have been taken: then the outcome
// is unknown. A 503 from every node is returned as the last one's answer.
func (c *apiClient) do(method, path string, body []byte, safe bool) (*apiReply, error) {
	return c.doWith(method, path, nil, body, safe)
}

// doWith is do with headers of the caller's.
func (c *apiClient) doWith(method, path string, header http.Header, body []byte, safe bool) (*apiReply, error) {
	var failures []string
	var last *apiReply
	for _, addr := range c.addrs {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(context.Background(), method, addr+path, rd)
		if err != nil {
			return nil, err
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Accept", "application/json")
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		for name, values := range header {
			req.Header[name] = values
		}
		resp, err := c.http.Do(req)
		if err == nil {
			b, rerr := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
			resp.Body.Close()
			if rerr == nil {
				last = &apiReply{addr: addr, status: resp.StatusCode, body: b}
				if resp.StatusCode != http.StatusServiceUnavailable {
					return last, nil
				}
				failures = append(failures, fmt.Sprintf("%s: %s", addr, last.message()))
				continue
			}
			err = rerr
		}
		if !safe && !dialFailed(err) {
			return nil, errUnknownOutcome{fmt.Errorf("%s: %w", addr, err)}
		}
		failures = append(failures, fmt.Sprintf("%s: %v", addr, err))
	}
	if last != nil {
		return last, nil
	}
	return nil, fmt.Errorf("no node answered: %s", strings.Join(failures, "; "))
}

// dialFailed reports whether err is a failure to connect, so that nothing
// was sent.
func dialFailed(err error) bool {
	var op *net.OpError
	var dns *net.DNSError
	return errors.As(err, &dns) || (errors.As(err, &op) && op.Op == "dial")
}

// message is the error a reply carries, or a description of a reply that
// is not the API's.
func (r *apiReply) message() string {
	msg, _ := r.apiError()
	return msg
}

// apiError is the error the reply carries; ok is false when the reply is
// not the API's JSON, and msg then describes it.
func (r *apiReply) apiError() (msg string, ok bool) {
	var e live.ErrorBody
	if json.Unmarshal(r.body, &e) == nil && e.Error != "" {
		return e.Error, true
	}
	return fmt.Sprintf("%s answered %d %s, not the API's JSON: %s", r.addr, r.status, http.StatusText(r.status), truncate(strings.TrimSpace(string(r.body)), 200)), false
}

// failure is the exit code and error of a reply that is not a success.
func (r *apiReply) failure() (int, error) {
	msg, ok := r.apiError()
	switch {
	case !ok:
		return exitInternal, errors.New(msg)
	case r.status == http.StatusBadRequest, r.status == http.StatusRequestEntityTooLarge, r.status == http.StatusUnsupportedMediaType:
		return exitUsage, usageError{msg}
	case r.status == http.StatusGatewayTimeout:
		return exitUnknown, errors.New(msg)
	case r.status == http.StatusUnauthorized, r.status == http.StatusForbidden:
		return exitUsage, usagef("%s: %d %s: %s (--token, or env %s)", r.addr, r.status, http.StatusText(r.status), msg, apiTokenEnv)
	}
	return exitInternal, fmt.Errorf("%s: %d %s: %s", r.addr, r.status, http.StatusText(r.status), msg)
}

// printJSON prints the reply's body as it is.
func (r *apiReply) printJSON(w io.Writer) {
	w.Write(r.body)
	if len(r.body) > 0 && r.body[len(r.body)-1] != '\n' {
		fmt.Fprintln(w)
	}
}

// parseClientArgs parses flags (anywhere) and positional arguments; after
// "--" everything is positional, for values that start with "-".
func parseClientArgs(fs *flag.FlagSet, args []string) (pos []string, done bool, code int, err error) {
	var rest []string
	if i := slices.Index(args, "--"); i >= 0 {
		args, rest = args[:i], args[i+1:]
	}
	pos, done, code, err = parseInterleaved(fs, args)
	return append(pos, rest...), done, code, err
}

// kvCommand is one kv subcommand: its name, its positional arguments and
// what it sends.
type kvCommand struct {
	name string
	args string // for the usage line
	// request builds the request from the positional arguments and the
	// command's one boolean flag (get --stale, cas --absent), or fails
	// with a usage error.
	request func(pos []string, flag bool) (method, path string, body []byte, err error)
}

func runKVGet(args []string, stdout, stderr io.Writer) (int, error) {
	return runKV(kvCommand{name: "get", args: "KEY [--stale]", request: func(pos []string, stale bool) (string, string, []byte, error) {
		if err := wantArgs(pos, "KEY"); err != nil {
			return "", "", nil, err
		}
		path := live.KeyPath(pos[0])
		if stale {
			path += "?consistency=" + live.ConsistencyStale
		}
		return http.MethodGet, path, nil, checkKey(pos[0])
	}}, args, stdout, stderr)
}

func runKVPut(args []string, stdout, stderr io.Writer) (int, error) {
	return runKV(kvCommand{name: "put", args: "KEY VALUE", request: func(pos []string, _ bool) (string, string, []byte, error) {
		if err := wantArgs(pos, "KEY", "VALUE"); err != nil {
			return "", "", nil, err
		}
		body, _ := json.Marshal(map[string]string{"value": pos[1]})
		return http.MethodPut, live.KeyPath(pos[0]), body, errors.Join(checkKey(pos[0]), checkText("VALUE", pos[1]))
	}}, args, stdout, stderr)
}

func runKVDelete(args []string, stdout, stderr io.Writer) (int, error) {
	return runKV(kvCommand{name: "delete", args: "KEY", request: func(pos []string, _ bool) (string, string, []byte, error) {
		if err := wantArgs(pos, "KEY"); err != nil {
			return "", "", nil, err
		}
		return http.MethodDelete, live.KeyPath(pos[0]), nil, checkKey(pos[0])
	}}, args, stdout, stderr)
}

func runKVCAS(args []string, stdout, stderr io.Writer) (int, error) {
	return runKV(kvCommand{name: "cas", args: "KEY EXPECTED VALUE | KEY VALUE --absent", request: func(pos []string, absent bool) (string, string, []byte, error) {
		var expected *string
		if absent {
			if err := wantArgs(pos, "KEY", "VALUE (EXPECTED goes with --absent)"); err != nil {
				return "", "", nil, err
			}
			pos = []string{pos[0], "", pos[1]}
		} else {
			if err := wantArgs(pos, "KEY", "EXPECTED", "VALUE (or KEY VALUE --absent)"); err != nil {
				return "", "", nil, err
			}
			expected = &pos[1]
		}
		body, _ := json.Marshal(struct {
			Expected *string `json:"expected"`
			Value    string  `json:"value"`
		}{expected, pos[2]})
		return http.MethodPost, live.KeyPath(pos[0]) + "/cas", body, errors.Join(checkKey(pos[0]), checkText("EXPECTED", pos[1]), checkText("VALUE", pos[2]))
	}}, args, stdout, stderr)
}

// wantArgs fails unless pos has exactly the named arguments.
func wantArgs(pos []string, names ...string) error {
	switch {
	case len(pos) < len(names):
		return usagef("missing %s", strings.Join(names[len(pos):], " "))
	case len(pos) > len(names):
		return usagef("unexpected argument %q after %s", pos[len(names)], strings.Join(names, " "))
	}
	return nil
}

// checkText refuses a value that is not UTF-8: the API carries values as
// JSON text, and encoding/json would replace the bad bytes quietly.
func checkText(what, s string) error {
	if !utf8.ValidString(s) {
		return usagef("%s: not valid UTF-8 (a key may hold any bytes, a value only text)", what)
	}
	return nil
}

func checkKey(key string) error {
	if len(key) == 0 || len(key) > live.MaxKeyLen {
		return usagef("KEY: must be 1 to %d bytes, got %d", live.MaxKeyLen, len(key))
	}
	return nil
}

// runKV runs a kv subcommand: exit 0 when it took effect (or found the
// key), 1 when the key is not found or a cas found another value, 2 when
// the outcome is unknown, 3 for usage and bad input, 4 for other errors.
func runKV(kc kvCommand, args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("shoal kv "+kc.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := addClientFlags(fs)
	opt := false
	switch kc.name {
	case "cas":
		fs.BoolVar(&opt, "absent", false, "expect the key to be absent (then EXPECTED is not given)")
	case "get":
		fs.BoolVar(&opt, "stale", false, "let whichever instance is asked answer from its own state: faster, served inside a minority, but it may miss acknowledged writes")
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: shoal kv %s %s [--addr ADDRS] [--json]\n\n", kc.name, kc.args)
		fmt.Fprintln(stderr, "Exits 0 on success, 1 when the key is not found or a cas finds another value,\n2 when the outcome is unknown, 3 for bad input, 4 for other errors.")
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	pos, done, code, err := parseClientArgs(fs, args)
	if done {
		return code, err
	}
	method, path, body, err := kc.request(pos, opt)
	if err != nil {
		return exitUsage, err
	}
	c, err := cf.client()
	if err != nil {
		return exitUsage, err
	}
	reply, err := c.do(method, path, body, method == http.MethodGet)
	if err != nil {
		return unanswered(err)
	}
	if cf.json {
		reply.printJSON(stdout)
	}
	switch reply.status {
	case http.StatusOK:
		var res live.KVResult
		if err := json.Unmarshal(reply.body, &res); err != nil {
			return exitInternal, fmt.Errorf("%s: the answer is not the API's JSON: %v", reply.addr, err)
		}
		switch {
		case cf.json:
		case method == http.MethodGet && res.Value != nil:
			fmt.Fprintln(stdout, *res.Value)
		default:
			fmt.Fprintf(stdout, "ok index %d\n", res.Index)
		}
		return exitValid, nil
	case http.StatusNotFound:
		var e live.ErrorBody
		if method == http.MethodGet && json.Unmarshal(reply.body, &e) == nil && e.Key != "" {
			return exitInvalid, fmt.Errorf("key %q not found", e.Key)
		}
	case http.StatusConflict:
		var m live.MismatchBody
		if err := json.Unmarshal(reply.body, &m); err == nil && kc.name == "cas" {
			if !cf.json {
				if m.Current == nil {
					fmt.Fprintln(stdout, "mismatch: the key is absent")
				} else {
					fmt.Fprintf(stdout, "mismatch: current value %q\n", *m.Current)
				}
			}
			return exitInvalid, nil
		}
	}
	return reply.failure()
}
