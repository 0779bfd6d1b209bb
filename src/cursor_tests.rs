use super::*;
use Attention::*;

fn seen(id: &str, attention: Option<Attention>, since: Option<u64>) -> Seen {
    Seen { id: id.into(), attention, since, reason: format!("{id} why"), ended: false }
}

fn ids(events: &[Event]) -> Vec<(&str, &str)> {
    events.iter().map(|e| (e.id.as_str(), e.state)).collect()
}

#[test]
fn states_parse_with_ended_and_say_what_is_wrong() {
    assert_eq!(
        States::parse("needs_you,ended,needs_you").unwrap(),
        States(vec![Until::State(NeedsYou), Until::Ended])
    );
    let all = "needs_you,stalled,turn_done,working,tool,gone,ended";
    assert_eq!(States::parse(all).unwrap().0.len(), 7);
    let err = "--until names unknown state 'idle' (choose from needs_you, stalled, turn_done, \
               working, tool, gone, ended)";
    assert_eq!(States::parse("turn_done,idle").unwrap_err(), err);
    assert!(States::parse("").is_err());
    assert!(States::parse("gone,").is_err());
    assert_eq!(States::default(), States::parse("needs_you,turn_done,stalled,gone").unwrap());
}

#[test]
fn a_session_enters_only_with_a_new_pair_in_states() {
    let states = States::default();
    let first = [
        seen("a", Some(Working), Some(10)),
        seen("b", Some(TurnDone), Some(20)),
        seen("c", Some(NeedsYou), Some(30)),
        seen("d", None, None),
    ];
    let snap = snapshot(&states, &first);
    assert_eq!(snap.keys().collect::<Vec<_>>(), ["b", "c"], "only those in STATES");
    assert!(entered(&snap, &states, &first, 99).is_empty(), "the first look enters nothing");
    let later = [
        seen("a", Some(TurnDone), Some(40)), // came into STATES
        seen("b", Some(TurnDone), Some(20)), // the same pair: no
        seen("c", Some(NeedsYou), Some(35)), // the same state again, a new period
        seen("d", Some(Tool), Some(50)),     // not in STATES
        seen("e", Some(Stalled), None),      // new while waiting
    ];
    let got = entered(&snap, &states, &later, 99);
    assert_eq!(ids(&got), [("c", "needs_you"), ("e", "stalled"), ("a", "turn_done")]);
    assert_eq!((got[1].at, got[0].reason.as_str()), (99, "c why"), "unknown since: now");
    // --now: an empty snapshot; everything in STATES counts.
    let now = entered(&Snapshot::new(), &states, &first, 99);
    assert_eq!(ids(&now), [("c", "needs_you"), ("b", "turn_done")]);
}

#[test]
fn ended_is_named_only_when_asked_and_a_clear_wakes_nobody() {
    let ended = Seen { ended: true, ..seen("x", Some(Gone), Some(5)) };
    let cleared = Seen { ended: true, ..seen("y", None, Some(6)) };
    let all = [ended.clone(), cleared];
    let by_default = entered(&Snapshot::new(), &States::default(), &all, 9);
    assert_eq!(ids(&by_default), [("x", "gone")]);
    let asked = States::parse("ended").unwrap();
    assert_eq!(ids(&entered(&Snapshot::new(), &asked, &all, 9)), [("x", "ended")]);
    let neither = States::parse("needs_you").unwrap();
    assert!(entered(&Snapshot::new(), &neither, &all, 9).is_empty());
    let live_gone = seen("z", Some(Gone), Some(7));
    assert!(entered(&Snapshot::new(), &asked, &[live_gone], 9).is_empty(), "gone, not ended");
}

#[test]
fn a_cursor_round_trips_and_nothing_else_reads() {
    let states = States::default();
    let look = [seen("s1", Some(TurnDone), Some(1764578506)), seen("c-417c.x_y", Some(Gone), None)];
    let snap = snapshot(&states, &look);
    let text = render(&snap);
    assert_eq!(text, "v1,c-417c.x_y:gone:-,s1:turn_done:1764578506");
    assert!(text.bytes().all(|b| b.is_ascii_graphic()), "printable, no blanks");
    assert_eq!(parse(&text).unwrap(), snap);
    assert_eq!(parse("v1").unwrap(), Snapshot::new());
    for bad in [
        "",
        "v2",
        "v1,",
        "v1,s1:turn_done",
        "v1,s1:idle:5",
        "v1,s1:gone:5:6",
        "v1,s1:gone:+5",
        "v1,s 1:gone:5",
        "v1,s1:gone:5,s1:gone:6",
        "v1,s1:gone:99999999999999999999999",
        "x,s1:gone:5",
    ] {
        let err = parse(bad).unwrap_err();
        assert!(
            err.starts_with("invalid cursor '")
                && err.ends_with("(pass one that sessions wait printed)"),
            "{bad:?}: {err}"
        );
    }
    // What entered between two calls is seen by the second.
    let between =
        [seen("s1", Some(TurnDone), Some(1764578600)), seen("c-417c.x_y", Some(Gone), None)];
    assert_eq!(ids(&entered(&parse(&text).unwrap(), &states, &between, 0)), [("s1", "turn_done")]);
}
