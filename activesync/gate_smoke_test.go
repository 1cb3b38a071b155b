package activesync_test

import (
	"testing"

	"airlock/activesync/eastest"
	"airlock/store"
	"airlock/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func TestSmokeProvisionThenSettings(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		srv := eastest.StartServer(t, st)
		srv.AddUser(t, "alice@example.nhs.uk", "correct-horse-1")
		dev := eastest.NewDevice(t, srv.URL, eastest.Profile{Name: "iPhone", DeviceType: "iPhone", UserAgent: "Apple-iPhone2C1/705.18", Version: "14.1", Model: "iPhone2,1", OS: "iOS 4.3.3 8J2"}, "alice@example.nhs.uk", "correct-horse-1")
		dev.SendSettingsDeviceInformation().Expect(200, "Settings:Status", "142")
		dev.Provision(1).Expect(200, "Provision:Policies/Provision:Policy/Provision:Status", "1")
		// Once provisioned, the device reads its account (MS-ASCMD 2.2.1.18
		// Settings, UserInformation Get): at 14.1 the answer is Accounts/
		// Account, whose EmailAddresses hold the SMTPAddress (2.2.3.171)
		// the device shows as the account's address.
		res := dev.Do("Settings", `<Settings:Settings><Settings:UserInformation><Settings:Get/></Settings:UserInformation></Settings:Settings>`)
		res.Expect(200, "Settings:Status", "1")
		res.Expect(200, "Settings:UserInformation/Settings:Status", "1")
		const account = "Settings:UserInformation/Settings:Get/Settings:Accounts/Settings:Account"
		res.Expect(200, account+"/Settings:EmailAddresses/Settings:SMTPAddress", "alice@example.nhs.uk")
	})
}
