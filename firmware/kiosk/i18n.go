package kiosk

import (
	"fmt"
	"strings"

	"golang.org/x/text/feature/plural"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/message/catalog"

	"github.com/lockerd/lockerd/firmware/panel"
)

// Lang is a language the kiosk speaks. Values are stable: they are the page's lang
// attribute, the config's kiosk.language and the wire value of POST /lang.
type Lang string

// The kiosk's languages.
const (
	English Lang = "en"
	Chinese Lang = "zh-Hans" // Simplified Chinese, spoken with espeak-ng's Mandarin voice
)

// Langs are the kiosk's languages in the order the language button cycles them.
var Langs = []Lang{English, Chinese}

// ParseLang returns the language a string names: "en", "zh-Hans" (also "zh", "zh-CN",
// "zh_CN"), or false.
func ParseLang(s string) (Lang, bool) {
	switch strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), "_", "-")) {
	case "en", "en-gb", "en-us":
		return English, true
	case "zh", "zh-hans", "zh-cn", "zh-hans-cn", "cmn":
		return Chinese, true
	}
	return "", false
}

func (l Lang) tag() language.Tag {
	if l == Chinese {
		return language.SimplifiedChinese
	}
	return language.English
}

// Voice is espeak-ng's voice for the language.
func (l Lang) Voice() string {
	if l == Chinese {
		return "cmn"
	}
	return "en"
}

// next is the language the language button switches to.
func (l Lang) next() Lang {
	if l == English {
		return Chinese
	}
	return English
}

// The wording of every screen, in golang.org/x/text message catalogues: a key per
// prompt's title (".t") and detail (".d"), and the page's fixed labels ("ui.").
// Arguments are always (count, labels, seconds) so that the plural forms of a
// language choose on the count; a language that does not inflect ignores it.
// Nothing here ever takes a code, PIN, badge or tracking number: only door labels,
// counts and durations (docs/privacy.md §1).
type msg struct {
	key    string
	en, zh any // string or catalog.Message
}

// n is a message whose plural forms select on the count (argument 1).
func n(en ...string) catalog.Message { return pluralOn(1, en) }

// secs is a message whose plural forms select on the seconds (argument 3).
func secs(en ...string) catalog.Message { return pluralOn(3, en) }

func pluralOn(arg int, forms []string) catalog.Message {
	cases := make([]any, len(forms))
	for i, s := range forms {
		cases[i] = s
	}
	return plural.Selectf(arg, "%d", cases...)
}

var messages = []msg{
	{"welcome.t", "Welcome", "欢迎"},
	{"welcome.d", "To collect a parcel, type your pickup code and press #, or show your QR code to the scanner.", "取件请输入取件码并按 # 键，或将二维码对准扫描器。"},
	{"typing.t", "Pickup code", "取件码"},
	{"typing.d", n("one", "%[1]d digit typed. Press # when done, * to clear.", "other", "%[1]d digits typed. Press # when done, * to clear."), "已输入 %[1]d 位。输入完毕请按 #，按 * 清除。"},
	{"cleared.t", "Cleared", "已清除"},
	{"cleared.d", "Your entry was cleared. Type your code again.", "输入已清除，请重新输入。"},
	{"timed_out.t", "Entry timed out", "输入超时"},
	{"timed_out.d", "Your partial entry was cleared because no key was pressed. Start again.", "由于长时间未按键，输入已清除。请重新开始。"},
	{"doors_open.t", n("one", "Door %[2]s is open", "other", "Doors %[2]s are open"), "%[2]s 号柜门已打开"},
	{"doors_open.d", n("one", "Take your parcel and close the door.", "other", "Take your %[1]d parcels and close the doors."), "请取走 %[1]d 件包裹并关好柜门。"},
	{"shelf.t", n("one", "Shelf %[2]s", "other", "Shelves %[2]s"), "货架 %[2]s"},
	{"shelf.d", n("one", "Staff will fetch your parcel from shelf %[2]s.", "other", "Staff will fetch your %[1]d parcels from shelves %[2]s."), "工作人员将从货架 %[2]s 为您取出 %[1]d 件包裹。"},
	{"door_fault.t", "A door did not open", "柜门未能打开"},
	{"door_fault.d", n("one", "Door %[2]s did not open. Please call staff; your parcel is safe.", "other", "Doors %[2]s did not open. Please call staff; your parcels are safe."), "%[2]s 号柜门未能打开。请联系工作人员，您的包裹是安全的。"},
	{"wrong_code.t", "Code not recognised", "取件码无效"},
	{"wrong_code.d", "No parcel matches that code and phone number. Check the message you received and try again.", "没有与该取件码和手机号匹配的包裹。请核对您收到的短信后重试。"},
	{"phone.t", "Phone number", "手机号"},
	{"phone.d", "Now type the last four digits of your phone number and press #.", "请输入手机号后四位并按 #。"},
	{"code_format.t", "That is not a pickup code", "取件码格式不正确"},
	{"code_format.d", n("one", "A pickup code has at least %[1]d digit. Type it again.", "other", "A pickup code has at least %[1]d digits. Type it again."), "取件码至少为 %[1]d 位数字，请重新输入。"},
	{"code_format_any.d", "Type the code exactly as in your message, then the last four digits of your phone.", "请按短信中的取件码输入，然后输入手机号后四位。"},
	{"checking.t", "Checking your code", "正在核对取件码"},
	{"checking.d", secs("one", "Please wait, at most %[3]d second.", "other", "Please wait, at most %[3]d seconds."), "请稍候，最多 %[3]d 秒。"},
	{"locked.t", "Too many attempts", "尝试次数过多"},
	{"locked.d", secs("one", "Code entry is paused. Try again in %[3]d second.", "other", "Code entry is paused. Try again in %[3]d seconds."), "输入已暂停，请在 %[3]d 秒后重试。"},
	{"enter_pin.t", "Courier login", "快递员登录"},
	{"enter_pin.d", "Badge read. Type your PIN and press #.", "已读取工牌。请输入密码并按 #。"},
	{"bad_credentials.t", "Login refused", "登录失败"},
	{"bad_credentials.d", "The badge or PIN was not recognised. Show your badge again.", "工牌或密码无效，请重新出示工牌。"},
	{"session_open.t", "Courier session", "快递员投递"},
	{"session_open.d", "Scan a parcel to open a door. Keys: 1 to 4 size, 0 undo, 9 retrieve expired parcels, # done.", "扫描包裹即可打开柜门。按键：1 至 4 选择尺寸，0 撤销，9 取回过期包裹，# 结束。"},
	{"size.t", "Size chosen", "已选择尺寸"},
	{"size.d", "Unannounced parcels will go into a door of size %[2]s. Scan the parcel.", "未预报的包裹将放入 %[2]s 号尺寸的柜门。请扫描包裹。"},
	{"size_none.d", "No size chosen: press 1 to 4 before scanning an unannounced parcel.", "未选择尺寸：扫描未预报的包裹前请按 1 至 4。"},
	{"deposit.t", "Door %[2]s is open", "%[2]s 号柜门已打开"},
	{"deposit.d", "Put the parcel in door %[2]s and close it when done. Scan the next parcel.", "请将包裹放入 %[2]s 号柜门并关好。然后扫描下一件包裹。"},
	{"choose_size.t", "Choose a size", "请选择尺寸"},
	{"choose_size.d", "This parcel was not announced. Press 1 for S, 2 for M, 3 for L or 4 for XL, then scan it again.", "该包裹未预报。请按 1 (S)、2 (M)、3 (L) 或 4 (XL)，然后重新扫描。"},
	{"duplicate_scan.t", "Already scanned", "重复扫描"},
	{"duplicate_scan.d", "That parcel was just scanned. Scan the next one.", "该包裹刚刚已扫描，请扫描下一件。"},
	{"already_here.t", "Already in the locker", "包裹已在柜中"},
	{"already_here.d", "That parcel is already in the locker or cannot be deposited.", "该包裹已在柜中或无法投递。"},
	{"no_free_door.t", "No free door", "没有空闲柜门"},
	{"no_free_door.d", "No free door fits this parcel. Take it back.", "没有适合该包裹的空闲柜门，请将其带回。"},
	{"undone.t", "Deposit undone", "已撤销投递"},
	{"undone.d", "The last deposit was cancelled. Take the parcel back out and close the door.", "上一件投递已撤销。请取回包裹并关好柜门。"},
	{"nothing_to_do.t", "Nothing to do", "无可操作"},
	{"nothing_to_do.d", "There is nothing to undo or to retrieve.", "没有可撤销或可取回的包裹。"},
	{"no_rights.t", "Not allowed", "无权限"},
	{"no_rights.d", "Your account may not do that at this locker.", "您的账号无权在此快递柜执行该操作。"},
	{"session_closed.t", "Session closed", "投递已结束"},
	{"session_closed.d", "Thank you. The session is closed.", "谢谢，本次投递已结束。"},
	{"session_ended.t", "Session ended", "投递已超时结束"},
	{"session_ended.d", "The session ended because nothing happened for a while. Show your badge to start again.", "由于长时间无操作，本次投递已结束。请重新出示工牌。"},
	{"handed_over.t", "Parcel handed over", "包裹已交付"},
	{"handed_over.d", "Shelf %[2]s: the right parcel. Hand it over.", "货架 %[2]s：包裹正确，请交给收件人。"},
	{"wrong_parcel.t", "Wrong parcel", "包裹不符"},
	{"wrong_parcel.d", "That is not the parcel for this pickup. Put it back and fetch the right one.", "该包裹不属于本次取件。请放回并取正确的包裹。"},
	{"login_first.t", "Show a badge first", "请先出示工牌"},
	{"login_first.d", "To deposit parcels, show your courier badge first.", "投递包裹前请先出示快递员工牌。"},
	{"bad_scan.t", "Not readable", "无法识别"},
	{"bad_scan.d", "That code is not a parcel, badge or pickup QR code.", "该条码不是包裹、工牌或取件二维码。"},
	{"finish_first.t", "Finish the session first", "请先结束投递"},
	{"finish_first.d", "A courier session is open. Press # to end it before collecting a parcel.", "快递员投递尚未结束。取件前请按 # 结束投递。"},
	{"error.t", "Something went wrong", "出现故障"},
	{"error.d", "Please try again, or call staff.", "请重试或联系工作人员。"},

	{"ui.clear", "Clear", "清除"},
	{"ui.enter", "Enter", "确认"},
	{"ui.speak", "Read aloud", "朗读"},
	{"ui.lang", "中文", "English"},
	{"ui.lang_label", "切换到中文", "Switch to English"},
	{"ui.more_time", "More time", "延长时间"},
	{"ui.time_left", n("one", "%[1]d second left.", "other", "%[1]d seconds left."), "剩余 %[1]d 秒。"},
	{"ui.warn", "Time is almost up. Press More time (key C) to keep going.", "时间即将用完。按\u201c延长时间\u201d（C 键）继续。"},
	{"ui.keypad", "Keypad", "键盘"},
	{"ui.courier_keys", "Courier keys", "快递员按键"},
	{"ui.size", "Size %[2]s", "尺寸 %[2]s"},
	{"ui.undo", "Undo last", "撤销上一件"},
	{"ui.retrieve", "Retrieve expired", "取回过期包裹"},
	{"ui.done", "Done", "结束"},
	{"ui.map", "Locker map", "柜门位置图"},
	{"ui.map_door", "Door %[2]s", "%[2]s 号柜门"},
	{"ui.door_open", "open", "已打开"},
	{"ui.door_failed", "did not open", "未打开"},
	{"ui.entered", n("one", "%[1]d digit entered", "other", "%[1]d digits entered"), "已输入 %[1]d 位"},
	{"ui.offline", "Reconnecting to the locker…", "正在重新连接快递柜……"},
	{"ui.keys_hint", "Keypad: # enter, * clear, A read aloud, B language, C more time.", "键盘：# 确认，* 清除，A 朗读，B 切换语言，C 延长时间。"},
	{"ui.title", "Parcel locker", "快递柜"},
}

// cat is the catalogue every printer reads; built once, read-only afterwards.
var cat = func() catalog.Catalog {
	b := catalog.NewBuilder(catalog.Fallback(language.English))
	for _, m := range messages {
		for _, l := range []struct {
			tag language.Tag
			v   any
		}{{language.English, m.en}, {language.SimplifiedChinese, m.zh}} {
			var err error
			switch v := l.v.(type) {
			case string:
				err = b.SetString(l.tag, m.key, v)
			case catalog.Message:
				err = b.Set(l.tag, m.key, v)
			}
			if err != nil {
				panic(fmt.Sprintf("kiosk: catalogue %s/%s: %v", l.tag, m.key, err))
			}
		}
	}
	return b
}()

// printer prints in one language from the catalogue.
type printer struct{ p *message.Printer }

func newPrinter(l Lang) printer {
	return printer{message.NewPrinter(l.tag(), message.Catalog(cat))}
}

// text returns the message key in the printer's language with the arguments
// (count, labels, seconds) that every message takes.
func (p printer) text(key string, count int, labels string, secs int) string {
	return p.p.Sprintf(key, count, labels, secs)
}

// promptKeys lists every prompt the panel has, for the tests that walk them all.
var promptKeys = []panel.Prompt{
	panel.PromptWelcome, panel.PromptTyping, panel.PromptCleared, panel.PromptTimedOut,
	panel.PromptDoorsOpen, panel.PromptShelf, panel.PromptDoorFault, panel.PromptWrongCode,
	panel.PromptPhone, panel.PromptCodeFormat, panel.PromptChecking, panel.PromptLocked,
	panel.PromptEnterPIN, panel.PromptBadBadge, panel.PromptSessionOpen, panel.PromptSize,
	panel.PromptDeposit, panel.PromptChooseSize, panel.PromptDuplicate, panel.PromptAlreadyHere,
	panel.PromptNoFree, panel.PromptUndone, panel.PromptNothing, panel.PromptNoRights,
	panel.PromptSessionClosed, panel.PromptSessionEnded, panel.PromptHandedOver,
	panel.PromptWrongParcel, panel.PromptLoginFirst, panel.PromptBadScan, panel.PromptFinishFirst,
	panel.PromptError,
}
