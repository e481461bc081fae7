package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestGood(t *testing.T) {
	t.Setenv("KEFU_TEST_ORT", "/opt/ort/libonnxruntime.so.1")
	c, err := Load("testdata/good.yml")
	if err != nil {
		t.Fatal(err)
	}
	dir, _ := filepath.Abs("testdata")
	checks := []struct {
		name      string
		got, want any
	}{
		{"addr", c.Server.Addr, "0.0.0.0:9090"},
		{"max_text_runes", c.Server.MaxTextRunes, 500},
		{"max_body_bytes default", c.Server.MaxBodyBytes, int64(1 << 20)},
		{"request_timeout", c.Server.RequestTimeout.Std(), 3 * time.Second},
		{"shutdown_timeout default", c.Server.ShutdownTimeout.Std(), 30 * time.Second},
		{"log", c.Server.Log, Log{Format: "json", Level: "debug"}},
		{"env expanded", c.ONNXRuntime.Library, "/opt/ort/libonnxruntime.so.1"},
		{"relative path resolved", mustAbs(c.Models.Intent.Path), filepath.Join(dir, "model")},
		{"absolute path kept", c.Models.Embedder.Path, "/abs/embedder"},
		{"threshold", *c.Models.Intent.OOSThreshold, float32(0.4)},
		{"intra default", c.Models.Intent.IntraOpThreads, 1},
		{"in flight", c.Models.Intent.MaxInFlight, 2},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func mustAbs(p string) string { a, _ := filepath.Abs(p); return a }

// TestBad loads every testdata/*.bad.yml and checks its error names the
// key path (and line) a person has to fix.
func TestBad(t *testing.T) {
	want := map[string][]string{
		"unknown-key.bad.yml":    {"line 2: unknown key server.adr"},
		"unknown-nested.bad.yml": {"line 4: unknown key models.intent.oos_treshold"},
		"bad-duration.bad.yml":   {"line 2", "duration"},
		"no-model.bad.yml":       {"models.intent.path: is required"},
		"bad-values.bad.yml": {
			"server.max_body_bytes: must be > 0", `server.log.format: "xml" is not text or json`,
			"models.intent.oos_threshold: 1.5 is outside [0, 1)", "models.intent.max_length: must be at least 3",
		},
		"bad-yaml.bad.yml": {"yaml: line", "did not find expected"},
		"bad-keys.bad.yml": {
			"server.keys[0].key: must be at least 16 characters (got 5)", `server.keys[0].scopes: "root" is not chat, knowledge or admin`,
			"server.limits: limits must not be negative",
		},
		"bad-channels.bad.yml": {
			"channels.webhook.secret: must be at least 16 characters", "channels.telegram.workers: must not be negative",
			"channels.telegram.queue: must not be negative", "channels.telegram.timeout: must not be negative",
		},
		"bad-dialog.bad.yml": {
			`sessions.store: "memcached" is not embedded or redis`, "sessions.memory: 0 is outside 1..1000 turns",
			"sessions.idle_timeout: must be > 0", `normalize.action: "drop" is not mask or block`,
			"routing.intent_threshold: 2 is outside [0, 1)", "handoff.webhook: must be an http(s) URL",
			"services.订单服务.base_url: must be an absolute http(s) URL", "services.订单服务.operations.查询.method",
		},
	}
	files, _ := filepath.Glob("testdata/*.bad.yml")
	if len(files) != len(want) {
		t.Fatalf("%d bad files, %d expectations", len(files), len(want))
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			_, err := Load(f)
			if err == nil {
				t.Fatal("loaded without error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "config: "+f+": ") {
				t.Errorf("error does not start with the file: %s", msg)
			}
			for _, w := range want[name] {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q\n does not contain %q", msg, w)
				}
			}
		})
	}
}

func TestEmptyFileUsesDefaultsButNeedsModel(t *testing.T) {
	_, err := Parse(nil, "")
	if err == nil || !strings.Contains(err.Error(), "models.intent.path") {
		t.Fatalf("err = %v", err)
	}
	c, err := Parse([]byte("models: {intent: {path: /m}}\n"), "/etc/kefu")
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.Addr != "127.0.0.1:8080" || c.Models.Intent.Path != "/m" {
		t.Errorf("got %+v", c)
	}
}

func TestDialogSections(t *testing.T) {
	t.Setenv("KEFU_TEST_SHOP", "")
	c, err := Parse([]byte(`
models: {intent: {path: m}}
flows: ["flows/*.kefu"]
sessions: {path: s.db}
normalize: {sensitive_files: [words.txt]}
services:
  订单服务:
    base_url: ${KEFU_TEST_SHOP:-http://127.0.0.1:8081}
    operations: {查询: {method: GET, path: "/orders/{订单号}"}}
`), "/etc/kefu")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Services["订单服务"].BaseURL; got != "http://127.0.0.1:8081" {
		t.Errorf("${VAR:-default}: base_url = %q", got)
	}
	if c.Sessions.Path != "/etc/kefu/s.db" || c.Normalize.Files[0] != "/etc/kefu/words.txt" {
		t.Errorf("paths not resolved: %q %q", c.Sessions.Path, c.Normalize.Files)
	}
	if c.Sessions.Store != "embedded" || c.Sessions.Memory != 20 || c.Routing.IntentThreshold != 0.4 {
		t.Errorf("defaults: %+v %+v", c.Sessions, c.Routing)
	}
	t.Setenv("KEFU_TEST_SHOP", "http://shop:9000")
	c, err = Parse([]byte("models: {intent: {path: m}}\nservices: {s: {base_url: \"${KEFU_TEST_SHOP:-http://x}\", operations: {q: {method: GET, path: /q}}}}\n"), "")
	if err != nil || c.Services["s"].BaseURL != "http://shop:9000" {
		t.Errorf("set variable wins over the default: %v %+v", err, c)
	}
}

func TestMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("err = %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		next := u.Unwrap()
		if next == nil {
			return err
		}
		err = next
	}
}

// FuzzParse feeds arbitrary files to the loader: it returns a config or an
// error, never panics, and a config it accepts validates.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yml")
	files = append(files, "../../../testdata/bots/demo/kefu.yaml")
	for _, p := range files {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("providers: {x: {type: openai, model: m}}\nroutes: {r: {providers: [x]}}\n"))
	f.Add([]byte("server: {keys: [{name: a, key: \"0123456789abcdef\", scopes: [chat]}]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return
		}
		c, err := Parse(data, "/etc/kefu")
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that does not validate: %v", err)
		}
	})
}

func TestKeyTenant(t *testing.T) {
	parse := func(tenant string) (*Config, error) {
		src := "models: {intent: {path: /m}}\nserver:\n  keys:\n    - {name: web, key: 0123456789abcdef, scopes: [chat]" + tenant + "}\n"
		return Parse([]byte(src), "/etc/kefu")
	}
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"unset: the key's name", "", "web"},
		{"set", ", tenant: shop-a", "shop-a"},
		{"64 characters", `, tenant: "` + strings.Repeat("店", 64) + `"`, strings.Repeat("店", 64)},
		{"inner space", `, tenant: "shop a"`, "shop a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parse(tc.yaml)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Server.Keys[0].TenantName(); got != tc.want {
				t.Errorf("TenantName() = %q, want %q", got, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"empty", `, tenant: ""`, "server.keys[0].tenant: must not be empty"},
		{"blank", `, tenant: "  "`, "server.keys[0].tenant: must not be empty"},
		{"65 characters", `, tenant: "` + strings.Repeat("店", 65) + `"`, "server.keys[0].tenant: is 65 characters long; the limit is 64"},
		{"tab", `, tenant: "a\tb"`, `server.keys[0].tenant: "a\tb" has a control or invisible character`},
		{"NUL", `, tenant: "a\0b"`, "server.keys[0].tenant: \"a\\x00b\" has a control or invisible character"},
		{"bidi override", `, tenant: "a\u202eb"`, "server.keys[0].tenant: \"a\\u202eb\" has a control or invisible character"},
		{"leading space", `, tenant: " shop"`, `server.keys[0].tenant: " shop" has leading or trailing spaces`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(tc.yaml)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestGuardWidth(t *testing.T) {
	for w, ok := range map[int]bool{-2: false, -1: true, 0: true, 8: false, 16: true, 64: true} {
		c := Default()
		c.Generate.GuardWidth = w
		err := c.Validate()
		if got := err == nil || !strings.Contains(err.Error(), "generate.guard_width"); got != ok {
			t.Errorf("guard_width %d: %v", w, err)
		}
	}
}
