package demo

import (
	"strings"

	"airlock/store"
)

// Organisation is the name every demo user's directory entry carries.
const Organisation = "Airlock Demo NHS Foundation Trust"

// person is a member of staff (with an account) or an outside correspondent.
type person struct {
	key                string
	title, first, last string
	job, dept, office  string
	phone, mobile      string
	admin              bool
	external           string // address of an outside correspondent
}

// staff are the demo accounts; amira's mailbox is the showcase.
var staff = []person{
	{key: "amira", title: "Dr", first: "Amira", last: "Patel", job: "Consultant Cardiologist", dept: "Cardiology", office: "Cardiac Centre, Level 3, Room 3.14", phone: "020 7946 0311", mobile: "07700 900311"},
	{key: "james", first: "James", last: "O'Connor", job: "Ward Manager", dept: "Acute Medical Unit", office: "Ward 7B", phone: "020 7946 0720", mobile: "07700 900720"},
	{key: "sarah", title: "Dr", first: "Sarah", last: "Whitfield", job: "Specialty Registrar (ST5) Cardiology", dept: "Cardiology", office: "Cardiac Centre, Level 3, Doctors' Office", phone: "020 7946 0315", mobile: "07700 900315"},
	{key: "priya", first: "Priya", last: "Nair", job: "Heart Failure Clinical Nurse Specialist", dept: "Cardiology", office: "Cardiac Centre, Level 2, Heart Failure Clinic", phone: "020 7946 0322", mobile: "07700 900322"},
	{key: "tom", first: "Tom", last: "Evans", job: "Medical Secretary", dept: "Cardiology", office: "Cardiac Centre, Level 3, Secretaries' Office", phone: "020 7946 0330"},
	{key: "grace", first: "Grace", last: "Adeyemi", job: "Lead Pharmacist, Medicines Management", dept: "Pharmacy", office: "Pharmacy, Ground Floor, East Wing", phone: "020 7946 0410", mobile: "07700 900410"},
	{key: "chris", first: "Chris", last: "Morgan", job: "Digital Services Administrator", dept: "Digital Services", office: "IT Service Desk, Block C", phone: "020 7946 0999", admin: true},
}

// outsiders write to the staff but have no account.
var outsiders = []person{
	{key: "gp", title: "Dr", first: "Helen", last: "Okafor", external: "helen.okafor@riverside-mp.example"},
	{key: "comms", first: "Trust", last: "Communications", external: "communications@bulletins.example"},
	{key: "learning", first: "Learning and", last: "Development", external: "training@learning.example"},
	{key: "cathlab", first: "Cath Lab", last: "Coordinator", external: "cathlab.coordinator@heartcentre.example"},
	{key: "estates", first: "Estates", last: "Parking Office", external: "parking@estates.example"},
	{key: "agency", first: "Mark", last: "Fielding", external: "mark.fielding@locums.example"},
	{key: "cd", title: "Dr", first: "Rajesh", last: "Shah", external: "rajesh.shah@medicaldirectorate.example"},
	{key: "rnd", first: "Research", last: "Governance", external: "rd.governance@research.example"},
}

func (p person) name() string {
	return strings.TrimSpace(strings.Join([]string{p.title, p.first, p.last}, " "))
}

// email is first.last@domain for staff, with punctuation dropped
// (O'Connor: james.oconnor).
func (p person) email(domain string) string {
	if p.external != "" {
		return p.external
	}
	local := strings.ToLower(p.first + "." + p.last)
	local = strings.Map(func(r rune) rune {
		if r == '\'' || r == ' ' {
			return -1
		}
		return r
	}, local)
	return local + "@" + domain
}

func (p person) user(domain string) *store.User {
	u := &store.User{
		Email: p.email(domain), DisplayName: p.name(), FirstName: p.first, LastName: p.last,
		JobTitle: p.job, Department: p.dept, Office: p.office, Phone: p.phone, Mobile: p.mobile,
		Organisation: Organisation, Role: store.RoleUser,
	}
	if p.admin {
		u.Role = store.RoleAdmin
	}
	return u
}

func lookup(key string) person {
	for _, l := range [][]person{staff, outsiders} {
		for _, p := range l {
			if p.key == key {
				return p
			}
		}
	}
	panic("demo: unknown person " + key) // a typo in the tables below
}

// cardiology is the department list used as a distribution.
var cardiology = []string{"amira", "sarah", "priya", "tom"}

func allStaff() []string {
	var keys []string
	for _, p := range staff {
		keys = append(keys, p.key)
	}
	return keys
}
