package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"airlock/fax"
	"airlock/internal/server"
	"airlock/sms"
	"airlock/store/storetest"
)

// recorder is a fake SMS or fax provider on loopback: it keeps each JSON
// body it gets and takes it (200).
type recorder struct {
	mu     sync.Mutex
	bodies [][]byte
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.bodies = append(r.bodies, b)
	r.mu.Unlock()
	w.Write([]byte(`{"id":"1"}`))
}

func (r *recorder) all() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.bodies...)
}

// TestBrowserGateways runs texts and faxes in Chromium
// (web/e2e/gateways.mjs) against the real server with its SMS and fax
// gateways pointed at fake providers on loopback, on SQLite and
// PostgreSQL: a text reaches the SMS provider and a PDF the fax provider,
// and each page shows "sent"; axe-core on both pages; screenshots at
// 1366x768 and 390x844 (SQLite run) with -update-screenshots.
func TestBrowserGateways(t *testing.T) {
	node := browserTools(t)
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			outDir := t.TempDir()
			if *updateScreenshots && dialect == "sqlite" {
				outDir, _ = filepath.Abs("../docs/screenshots")
				os.MkdirAll(outDir, 0o755)
			}
			runGatewaysBrowser(t, node, storetest.DSN(t, dialect), outDir)
		})
	}
}

func runGatewaysBrowser(t *testing.T, node, dsn, outDir string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const pw = "e2e-Passw0rd"
	seedUsers(t, dsn, pw)
	smsP, faxP := &recorder{}, &recorder{}
	smsSrv, faxSrv := httptest.NewServer(smsP), httptest.NewServer(faxP)
	defer smsSrv.Close()
	defer faxSrv.Close()
	cfg := server.Config{DB: dsn, Listen: "127.0.0.1:0", Hostname: "mail.example.nhs.uk", Domain: "example.nhs.uk", PlainHTTP: true, DataDir: t.TempDir()}
	cfg.SMSWebhook, cfg.FaxWebhook = smsSrv.URL, faxSrv.URL
	pr, pwr := io.Pipe()
	errc := make(chan error, 1)
	go func() { errc <- server.Run(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), pwr) }()
	base := waitForBanner(t, pr, errc)
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("server: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("server did not stop")
		}
	})

	cmd := exec.Command(node, "e2e/gateways.mjs", base, outDir)
	cmd.Env = append(os.Environ(), "AIRLOCK_PASSWORD="+pw, "CHROMIUM="+chromium)
	out, err := cmd.CombinedOutput()
	t.Logf("browser:\n%s", out)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}

	texts := smsP.all()
	var m sms.Message
	if len(texts) != 1 || json.Unmarshal(texts[0], &m) != nil || m.To != "+447700900123" || m.Text != "Your clinic moved to room 4." {
		t.Fatalf("the SMS provider got %q", texts)
	}
	faxes := faxP.all()
	var f fax.Fax
	if len(faxes) != 1 || json.Unmarshal(faxes[0], &f) != nil || f.To != "+442079460018" || f.Subject != "Discharge letter" ||
		len(f.Documents) != 1 || !bytes.HasPrefix(f.Documents[0].Data, []byte("%PDF-1.4")) || !strings.Contains(f.Text, "discharge letter attached") {
		t.Fatalf("the fax provider got %d faxes: %+v", len(faxes), f)
	}
}
