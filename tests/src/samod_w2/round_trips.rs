//! Counting round trips in the messages the device's end of the connection saw: per room (the
//! figure W2 reports) and over the whole connection.

use super::wire::{Direction, WireEvent};

/// `ceil(runs / 2)` of a sequence of directions, runs being its maximal one-direction parts.
pub(super) fn round_trips_of(directions: impl Iterator<Item = Direction>) -> u64 {
    let mut runs = 0u64;
    let mut previous = None;
    for direction in directions {
        if previous != Some(direction) {
            runs += 1;
            previous = Some(direction);
        }
    }
    runs.div_ceil(2)
}

/// The largest per-room round-trip count (see [`super::SamodFigures::round_trips`]).
pub(super) fn room_round_trips(events: &[WireEvent]) -> u64 {
    let mut rooms: Vec<&str> = events
        .iter()
        .filter_map(|e| e.document.as_deref())
        .collect();
    rooms.sort_unstable();
    rooms.dedup();
    let handshake = events
        .iter()
        .position(|e| e.document.is_some())
        .unwrap_or(events.len());
    let mut most = round_trips_of(events[..handshake].iter().map(|e| e.direction));
    for room in rooms {
        let of_room = |e: &WireEvent| e.document.as_deref() == Some(room);
        // The room holds the same heads on both sides once its last message carrying
        // changes has arrived; what follows (acknowledgements) is not waited for. A room
        // with no news on either side is converged before any of its messages.
        let end = match events.iter().rposition(|e| of_room(e) && e.carries_changes) {
            Some(last) => last + 1,
            None => events.iter().position(of_room).unwrap_or(events.len()),
        };
        let trips = round_trips_of(
            events[..end]
                .iter()
                .filter(|e| e.document.is_none() || of_room(e))
                .map(|e| e.direction),
        );
        most = most.max(trips);
    }
    most
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(sequence: &[(Direction, Option<&str>, bool)]) -> Vec<WireEvent> {
        sequence
            .iter()
            .map(|(direction, doc, carries_changes)| WireEvent {
                direction: *direction,
                document: doc.map(str::to_owned),
                carries_changes: *carries_changes,
            })
            .collect()
    }

    #[test]
    fn round_trips_are_per_room_with_the_handshake_up_to_the_last_changes() {
        use Direction::{Down, Up};
        // join, peer, then two rooms interleaved: a: up down(changes) up(changes) down;
        // b: up down(changes) up down.
        let log = events(&[
            (Up, None, false),
            (Down, None, false),
            (Up, Some("a"), false),
            (Up, Some("b"), false),
            (Down, Some("a"), true),
            (Down, Some("b"), true),
            (Up, Some("a"), true),
            (Down, Some("a"), false),
            (Up, Some("b"), false),
            (Down, Some("b"), false),
        ]);
        // a: up down | up down up -> 5 runs -> 3 (its last ack not waited for);
        // b: up down | up down -> 4 runs -> 2.
        assert_eq!(room_round_trips(&log), 3);
        assert_eq!(round_trips_of(log[..7].iter().map(|e| e.direction)), 3);
        // The handshake alone, and a room with no news: one round trip.
        assert_eq!(room_round_trips(&log[..2]), 1);
        assert_eq!(room_round_trips(&log[..4]), 1);
    }
}
