//! Loom models of the tag list (`crate::tag_list`): racing adders lose no tag and duplicate
//! none, the bound holds under a race, and a concurrent reader sees only tags that were
//! added. (The nodes themselves are plain heap memory, which loom does not track: that a
//! reader sees a published node's fields rests on the Release/Acquire pair argued in
//! `tag_list.rs`, and miri, whose weak-memory emulation and borrow checks run the tag list's
//! unit tests under `cargo xtask miri`, checks the frees and the accesses.)

use loom::sync::Arc;
use loom::thread;

use crate::tag_list::TagList;
use crate::{MetadataError, Tag};

fn tag(s: &str) -> Tag {
    Tag::new(s).unwrap()
}

fn names(list: &TagList) -> Vec<String> {
    list.to_vec().iter().map(|t| t.as_str().to_string()).collect()
}

#[test]
fn racing_adders_lose_nothing_and_a_reader_sees_only_added_tags() {
    loom::model(|| {
        let list = Arc::new(TagList::new());
        let adders: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|name| {
                let list = list.clone();
                thread::spawn(move || list.add(tag(name)).unwrap())
            })
            .collect();
        // A reader sees some of the tags added so far, and nothing else.
        let seen = names(&list);
        assert!(seen.len() <= 2);
        assert!(seen.iter().all(|t| t == "a" || t == "b"));
        for a in adders {
            a.join().unwrap();
        }
        let mut all = names(&list);
        all.sort();
        assert_eq!(all, ["a", "b"]);
    });
}

#[test]
fn racing_adders_of_one_tag_add_it_once() {
    loom::model(|| {
        let list = Arc::new(TagList::new());
        let other = list.clone();
        let t = thread::spawn(move || other.add(tag("same")).unwrap());
        list.add(tag("same")).unwrap();
        t.join().unwrap();
        assert_eq!(names(&list), ["same"]);
        assert!(list.contains("same"));
    });
}

#[test]
fn the_bound_holds_when_two_adders_race_for_the_last_place() {
    loom::model(|| {
        let list = Arc::new(TagList::new());
        for i in 0..Tag::MAX_PER_SESSION - 1 {
            list.add(tag(&format!("t{i}"))).unwrap();
        }
        let other = list.clone();
        let t = thread::spawn(move || other.add(tag("x")));
        let mine = list.add(tag("y"));
        let theirs = t.join().unwrap();
        let refused = [&mine, &theirs]
            .iter()
            .filter(|r| matches!(r, Err(MetadataError::TooManyTags { .. })))
            .count();
        assert_eq!(refused, 1, "exactly one of the two gets the last place");
        assert_eq!(list.to_vec().len(), Tag::MAX_PER_SESSION);
    });
}
