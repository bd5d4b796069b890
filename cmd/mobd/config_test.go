package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "mobd.toml")
	os.WriteFile(file, []byte("listen = \"127.0.0.1:1000\"\npool_size = 3\nrealm = \"file-realm\"\nlog_level = \"debug\"\nshutdown_timeout = \"5s\"\n[model_limits]\nanthropic = 2\n"), 0o600)
	env := map[string]string{"MOBD_CONFIG": file, "MOBD_POOL_SIZE": "4", "MOBD_REALM": "env-realm", "MOBD_RUNTIME": "sim"}
	cfg, err := loadConfig([]string{"--realm", "flag-realm", "--state", dir}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:1000" || cfg.PoolSize != 4 || cfg.Realm != "flag-realm" || cfg.LogLevel != "debug" ||
		cfg.Runtime != runtimeSim || cfg.StateDir != dir || cfg.ModelLimits["anthropic"] != 2 ||
		time.Duration(cfg.ShutdownTimeout) != 5*time.Second {
		t.Fatalf("config %+v", cfg)
	}
}

func TestConfigFiles(t *testing.T) {
	dir := t.TempDir()
	none := func(string) string { return "" }
	js := filepath.Join(dir, "c.json")
	os.WriteFile(js, []byte(`{"listen":"127.0.0.1:2000","runtime":"sim","model_limits":{"*":8}}`), 0o600)
	cfg, err := loadConfig([]string{"--config", js}, none)
	if err != nil || cfg.Listen != "127.0.0.1:2000" || cfg.ModelLimits["*"] != 8 || cfg.JournalSync != "normal" {
		t.Fatalf("json config %+v %v", cfg, err)
	}
	cfg, err = loadConfig([]string{"--config", js, "--journal-sync", "FULL"}, none)
	if err != nil || cfg.JournalSync != "FULL" {
		t.Fatalf("journal sync %q, %v", cfg.JournalSync, err)
	}
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte("tok-123\n"), 0o600)
	cfg, err = loadConfig([]string{"--auth-token-file", tokenFile, "--model-limits", "openai=1,*=4"}, none)
	if err != nil || cfg.AuthToken != "tok-123" || cfg.ModelLimits["openai"] != 1 || cfg.ModelLimits["*"] != 4 {
		t.Fatalf("token file config %+v %v", cfg.ModelLimits, err)
	}
	bad := []struct {
		name, file, content string
		args                []string
		want                string
	}{
		{"unknown json key", "u.json", `{"listen":"x","colour":"red"}`, nil, "unknown field"},
		{"unknown toml key", "u.toml", "colour = \"red\"\n", nil, "unknown key"},
		{"bad extension", "c.yaml", "a: b", nil, ".json or .toml"},
		{"bad runtime", "", "", []string{"--runtime", "fake"}, "--runtime rkat-rpc"},
		{"half tls", "", "", []string{"--tls-cert", "c.pem"}, "both"},
		{"bad pool", "", "", []string{"--pool-size", "0"}, "positive"},
		{"bad journal sync", "", "", []string{"--journal-sync", "sometimes"}, "want normal or full"},
	}
	for _, b := range bad {
		args := b.args
		if b.file != "" {
			p := filepath.Join(dir, b.file)
			os.WriteFile(p, []byte(b.content), 0o600)
			args = append(args, "--config", p)
		}
		if _, err := loadConfig(args, none); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%s: %v, want %q", b.name, err, b.want)
		}
	}
}

func TestCheckListen(t *testing.T) {
	for _, c := range []struct {
		addr, token string
		ok          bool
	}{
		{"127.0.0.1:7878", "", true},
		{"localhost:7878", "", true},
		{"[::1]:7878", "", true},
		{"127.0.0.2:0", "", true},
		{"0.0.0.0:7878", "", false},
		{":7878", "", false},
		{"[::]:7878", "", false},
		{"192.168.1.10:7878", "", false},
		{"example.com:7878", "", false},
		{"0.0.0.0:7878", "tok", true},
	} {
		err := checkListen(c.addr, c.token)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrInsecureListen)) {
			t.Errorf("checkListen(%q, token %v) = %v", c.addr, c.token != "", err)
		}
	}
}

func TestResolveRuntimeNeverFallsBack(t *testing.T) {
	t.Setenv("MEERKAT_BIN_PATH", "")
	t.Setenv("PATH", t.TempDir())
	no := false
	_, err := resolveRuntime(t.Context(), Config{Runtime: runtimeRPC, RuntimeDownload: &no}, zap.NewNop())
	if !errors.Is(err, ErrRuntimeNotFound) || !strings.Contains(err.Error(), "--runtime sim") {
		t.Fatalf("rkat-rpc missing: %v", err)
	}
	_, err = resolveRuntime(t.Context(), Config{Runtime: runtimeSim, RuntimeBin: "/nonexistent/rkat-sim"}, zap.NewNop())
	if !errors.Is(err, ErrRuntimeNotFound) {
		t.Fatalf("sim missing: %v", err)
	}
}

func TestSystemdUnit(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze not installed")
	}
	unit, err := os.ReadFile(filepath.Join("packaging", "mobd.service"))
	if err != nil {
		t.Fatal(err)
	}
	// verify checks that ExecStart's binary exists: point it at this test
	// binary, which does.
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "mobd.service")
	os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/mobd", exe)), 0o644)
	if out, err := exec.Command("systemd-analyze", "verify", path).CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
