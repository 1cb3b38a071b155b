package web

import "strings"

// CSV injection (OWASP "CSV Injection"; CWE-1236): a spreadsheet opening an
// export evaluates a cell as a formula when it starts with = + - or @, and
// some also when it starts with a tab or carriage return. A cell is not
// only what the CSV quoting delimits: LibreOffice and Excel split on other
// separators (";" in many locales, tab, "|") when a user imports the file
// with other options, and a line break inside a cell starts a new row in
// readers that ignore quotes. So every place where a new cell could begin
// (the start, and after any such separator or line break, skipping spaces
// and quotes) is checked, and a formula trigger there is defused with a
// leading apostrophe, which spreadsheets read as "this is text" and do not
// show.

// csvSafeRow defuses every cell of a row.
func csvSafeRow(cells ...string) []string {
	for i, c := range cells {
		cells[i] = csvSafe(c)
	}
	return cells
}

// csvSafe defuses every spot in s where a spreadsheet could start a
// formula.
func csvSafe(s string) string {
	if !strings.ContainsFunc(s, formulaTrigger) && !strings.HasPrefix(s, "\t") && !strings.HasPrefix(s, "\r") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 4)
	cellStart := true
	for i, r := range s {
		if (i == 0 && (r == '\t' || r == '\r')) || (cellStart && formulaTrigger(r)) {
			b.WriteByte('\'')
		}
		b.WriteRune(r)
		switch {
		case cellSeparator(r):
			cellStart = true
		case r == ' ' || r == '"' || r == '\'':
			// A reader may trim spaces and quotes before the trigger.
		default:
			cellStart = false
		}
	}
	return b.String()
}

// formulaTrigger: the characters that start a formula, with their
// full-width forms, which some spreadsheets in East Asian locales accept.
func formulaTrigger(r rune) bool {
	switch r {
	case '=', '+', '-', '@', '＝', '＋', '－', '＠':
		return true
	}
	return false
}

// cellSeparator: where a spreadsheet import may start a new cell or row.
func cellSeparator(r rune) bool {
	switch r {
	case ',', ';', '\t', '\r', '\n', '|', '\u2028', '\u2029':
		return true
	}
	return false
}
