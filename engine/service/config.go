package service

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"

	"gopkg.in/yaml.v3"
)

// DefaultTimeout bounds each attempt when neither the config nor the caller
// sets a timeout.
const DefaultTimeout = 5 * time.Second

// MaxRetries is the largest retries value a service may configure.
const MaxRetries = 5

// Config is the services section of kefu.yaml: service name to service.
// Service and operation names are what flows write (订单服务.查询), so they
// may not contain dots or spaces.
type Config map[string]ServiceConfig

// ServiceConfig is one business service.
type ServiceConfig struct {
	// BaseURL is an absolute http(s) URL without credentials, query or
	// fragment; operation paths are appended to it.
	BaseURL string `yaml:"base_url"`
	// Timeout bounds each attempt; 0 means DefaultTimeout.
	Timeout Duration `yaml:"timeout"`
	// Retries is the number of extra attempts after a network error, an
	// attempt timeout, a 429 or a 5xx; 0 to MaxRetries.
	Retries int `yaml:"retries"`
	// Headers are sent with every request. Values are secrets: they are
	// never logged, never put in errors and print as <secret>.
	Headers map[string]string `yaml:"headers"`
	// Operations maps operation name to operation; at least one.
	Operations map[string]Operation `yaml:"operations"`
}

// Operation is one HTTP endpoint of a service.
type Operation struct {
	// Method is GET, POST, PUT, PATCH or DELETE.
	Method string `yaml:"method"`
	// Path starts with "/" and may hold {name} placeholders filled from the
	// call's arguments.
	Path string `yaml:"path"`
	// Params are the argument names in positional order. Empty means the
	// path placeholders in order. When set, it must include every
	// placeholder.
	Params []string `yaml:"params"`
}

// String describes the service with header values replaced by <secret>, so
// printing a config with fmt never shows a token.
func (s ServiceConfig) String() string {
	names := make([]string, 0, len(s.Headers))
	for k := range s.Headers {
		names = append(names, k+": <secret>")
	}
	sort.Strings(names)
	ops := make([]string, 0, len(s.Operations))
	for k, op := range s.Operations {
		ops = append(ops, fmt.Sprintf("%s: %s %s", k, op.Method, op.Path))
	}
	sort.Strings(ops)
	return fmt.Sprintf("{base_url: %s, timeout: %s, retries: %d, headers: {%s}, operations: {%s}}",
		s.BaseURL, time.Duration(s.Timeout), s.Retries, strings.Join(names, ", "), strings.Join(ops, ", "))
}

// GoString is String, so %#v does not show header values either.
func (s ServiceConfig) GoString() string { return s.String() }

// Duration is a time.Duration written in YAML as a string ("2s", "500ms").
type Duration time.Duration

// UnmarshalYAML parses "1m30s"-style strings.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil || n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a duration such as \"2s\"", n.Line)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (want e.g. \"2s\", \"500ms\")", n.Line, s)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Std returns the duration as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// Validate checks every service and returns all problems joined, sorted,
// each naming its key path:
//
//	services.订单服务.base_url: must be an absolute http(s) URL
//
// The errors carry no package prefix: they are meant to be wrapped by the
// config loader. They never include header values.
func (c Config) Validate() error {
	var msgs []string
	bad := func(path, format string, args ...any) {
		msgs = append(msgs, path+": "+fmt.Sprintf(format, args...))
	}
	for name, s := range c {
		p := "services." + name
		if msg := checkName(name); msg != "" {
			bad(p, "service name %s", msg)
		}
		validateService(p, s, bad)
	}
	sort.Strings(msgs)
	errs := make([]error, len(msgs))
	for i, m := range msgs {
		errs[i] = errors.New(m)
	}
	return errors.Join(errs...)
}

func validateService(p string, s ServiceConfig, bad func(string, string, ...any)) {
	if s.BaseURL == "" {
		bad(p+".base_url", "is required: an absolute http(s) URL such as http://127.0.0.1:8081/api")
	} else if u, err := url.Parse(s.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		bad(p+".base_url", "must be an absolute http(s) URL")
	} else {
		if u.User != nil {
			bad(p+".base_url", "must not contain credentials; put them in headers")
		}
		if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
			bad(p+".base_url", "must not have a query or fragment; put tokens in headers")
		}
	}
	if s.Timeout < 0 {
		bad(p+".timeout", "must not be negative")
	}
	if s.Retries < 0 || s.Retries > MaxRetries {
		bad(p+".retries", "must be between 0 and %d", MaxRetries)
	}
	for k, v := range s.Headers {
		hp := p + ".headers." + k
		if !validHeaderName(k) {
			bad(hp, "is not a valid HTTP header name")
		}
		if strings.ContainsFunc(v, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) {
			bad(hp, "value must not contain control characters or line breaks")
		}
	}
	if len(s.Operations) == 0 {
		bad(p+".operations", "at least one operation is required")
	}
	for name, op := range s.Operations {
		op.validate(p+".operations."+name, name, bad)
	}
}

func (op Operation) validate(p, name string, bad func(string, string, ...any)) {
	if msg := checkName(name); msg != "" {
		bad(p, "operation name %s", msg)
	}
	switch op.Method {
	case "GET", "POST", "PUT", "PATCH", "DELETE":
	default:
		bad(p+".method", "must be GET, POST, PUT, PATCH or DELETE")
	}
	var holes []string
	switch {
	case op.Path == "":
		bad(p+".path", `is required, e.g. "/orders/{订单号}"`)
	case !strings.HasPrefix(op.Path, "/"):
		bad(p+".path", `must start with "/"`)
	case strings.ContainsAny(op.Path, "?#"):
		bad(p+".path", "must not have a query or fragment; arguments of GET and DELETE go to the query string")
	default:
		t, err := parseTemplate(op.Path)
		if err != nil {
			bad(p+".path", "%v", err)
		}
		holes = t.holes()
	}
	seen := map[string]bool{}
	for i, prm := range op.Params {
		if msg := checkName(prm); msg != "" {
			bad(fmt.Sprintf("%s.params[%d]", p, i), "param name %s", msg)
		}
		if seen[prm] {
			bad(fmt.Sprintf("%s.params[%d]", p, i), "duplicate param %q", prm)
		}
		seen[prm] = true
	}
	if len(op.Params) > 0 {
		for _, h := range holes {
			if !seen[h] {
				bad(p+".params", "must include the path placeholder %q", h)
			}
		}
	}
}

// checkName returns why name cannot be written in a flow, or "".
func checkName(name string) string {
	switch {
	case name == "":
		return "must not be empty"
	case strings.ContainsFunc(name, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune(".(),{}/\"'", r)
	}):
		return fmt.Sprintf("%q must not contain spaces, dots, brackets, commas, slashes or quotes", name)
	}
	return ""
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r > unicode.MaxASCII || !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return false
		}
	}
	return true
}

// template is an operation path split into literal text and placeholders.
type template struct {
	parts []part
}

type part struct {
	lit  string // escaped literal text, when hole == ""
	hole string // placeholder name
}

func parseTemplate(path string) (template, error) {
	var t template
	seen := map[string]bool{}
	rest := path
	for rest != "" {
		i := strings.IndexAny(rest, "{}")
		if i < 0 {
			t.parts = append(t.parts, part{lit: escapeLiteral(rest)})
			break
		}
		if rest[i] == '}' {
			return template{}, fmt.Errorf(`unmatched "}" in %q`, path)
		}
		if i > 0 {
			t.parts = append(t.parts, part{lit: escapeLiteral(rest[:i])})
		}
		rest = rest[i+1:]
		j := strings.IndexAny(rest, "{}/")
		if j < 0 || rest[j] != '}' {
			return template{}, fmt.Errorf(`unclosed "{" in %q`, path)
		}
		name := rest[:j]
		if msg := checkName(name); msg != "" {
			return template{}, fmt.Errorf("placeholder name %s", msg)
		}
		if seen[name] {
			return template{}, fmt.Errorf("placeholder {%s} appears twice", name)
		}
		seen[name] = true
		t.parts = append(t.parts, part{hole: name})
		rest = rest[j+1:]
	}
	return t, nil
}

// escapeLiteral path-escapes configured text, keeping its slashes.
func escapeLiteral(s string) string {
	return (&url.URL{Path: s}).EscapedPath()
}

func (t template) holes() []string {
	var out []string
	for _, p := range t.parts {
		if p.hole != "" {
			out = append(out, p.hole)
		}
	}
	return out
}

// clone deep-copies the config so a Client does not share maps with its
// caller.
func (c Config) clone() Config {
	out := make(Config, len(c))
	for name, s := range c {
		s2 := s
		s2.Headers = make(map[string]string, len(s.Headers))
		for k, v := range s.Headers {
			s2.Headers[k] = v
		}
		s2.Operations = make(map[string]Operation, len(s.Operations))
		for k, op := range s.Operations {
			op.Params = slices.Clone(op.Params)
			s2.Operations[k] = op
		}
		out[name] = s2
	}
	return out
}
