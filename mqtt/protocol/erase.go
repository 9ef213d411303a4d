package protocol

// EraseSubjectBody asks a locker to erase a data subject — a courier's or an
// operator's id — from its audit log's reach: the keys of the subject's pseudonyms
// are destroyed, so that no entry can be linked to it any more, while every entry
// (and so the audit chain) stays as it was (docs/adr/0065-audit-actors-as-pseudonyms.md).
type EraseSubjectBody struct {
	Subject  string `json:"subject"`  // the courier's or operator's id, as the cloud sent it
	Operator string `json:"operator"` // who asked: audited (by pseudonym)
}

// Type implements Body.
func (*EraseSubjectBody) Type() CommandType { return CmdEraseSubject }

// Validate implements Body.
func (b *EraseSubjectBody) Validate() error {
	if err := checkID("body.subject", b.Subject); err != nil {
		return err
	}
	return checkID("body.operator", b.Operator)
}

// EraseSubjectResult answers erase-subject: how many keys the locker destroyed (one per
// epoch in which it had recorded the subject; 0 when it had none).
type EraseSubjectResult struct {
	Keys int `json:"keys"`
}
