//! Calendar v3 answers: `events.list` with paging, `singleEvents` expansion of daily and weekly
//! rules, `showDeleted`, and sync tokens (`nextSyncToken`; `410 Gone` once expired).

use serde_json::{json, Value};

use crate::data::{Data, Event, When};
use crate::discovery::Call;
use crate::json::{rfc3339, when};
use crate::{Discovery, Refusal, Request, Response};

/// Parameters Google refuses together with `syncToken`.
const NOT_WITH_SYNC_TOKEN: [&str; 8] = [
    "iCalUID",
    "orderBy",
    "privateExtendedProperty",
    "q",
    "sharedExtendedProperty",
    "timeMin",
    "timeMax",
    "updatedMin",
];

pub fn answer(
    data: &mut Data,
    call: &Call,
    request: &Request,
    _: &Discovery,
) -> Result<Response, Refusal> {
    if call.id == "calendar.events.insert" {
        return insert(data, call, &request.body);
    }
    if call.id != "calendar.events.list" {
        return Err(Refusal::violation(
            501,
            "notImplemented",
            &format!("the fake does not serve {}", call.id),
        ));
    }
    let q = |name: &str| call.query.get(name).map(String::as_str);
    let id = &call.path["calendarId"];
    let calendar = data
        .calendars
        .get(id)
        .ok_or_else(|| Refusal::answer(404, "notFound", "Not Found"))?;
    // The listing's position: (offset, changes since, epoch, single events).
    let (offset, since, single) = if let Some(token) = q("pageToken") {
        let parts: Vec<&str> = token.split('~').collect();
        let parsed = match parts.as_slice() {
            ["ev", o, s, e, single] => o
                .parse::<usize>()
                .ok()
                .zip(s.parse::<u64>().ok())
                .zip(e.parse::<u64>().ok())
                .map(|((o, s), e)| (o, s, e, *single == "1")),
            _ => None,
        };
        let (o, s, e, single) =
            parsed.ok_or_else(|| Refusal::violation(400, "invalid", "Invalid page token"))?;
        if e != calendar.epoch {
            return Err(Refusal::answer(
                410,
                "fullSyncRequired",
                "Sync token is no longer valid, a full sync is required.",
            ));
        }
        (o, s, single)
    } else if let Some(token) = q("syncToken") {
        if let Some(bad) = NOT_WITH_SYNC_TOKEN
            .iter()
            .find(|p| call.query.contains_key(**p))
        {
            return Err(Refusal::violation(
                400,
                "invalid",
                &format!("syncToken cannot be combined with {bad}"),
            ));
        }
        let parts: Vec<&str> = token.split('~').collect();
        let (epoch, seq) = match parts.as_slice() {
            ["st", e, s] => e.parse::<u64>().ok().zip(s.parse::<u64>().ok()),
            _ => None,
        }
        .ok_or_else(|| Refusal::violation(400, "invalid", "Invalid sync token"))?;
        if epoch != calendar.epoch {
            return Err(Refusal::answer(
                410,
                "fullSyncRequired",
                "Sync token is no longer valid, a full sync is required.",
            ));
        }
        (0, seq, q("singleEvents") == Some("true"))
    } else {
        (0, 0, q("singleEvents") == Some("true"))
    };
    let incremental = since > 0;
    let show_deleted = incremental || q("showDeleted") == Some("true");
    let mut items: Vec<Value> = Vec::new();
    for e in calendar.events.iter().filter(|e| e.seq > since) {
        if e.status == "cancelled" {
            if show_deleted {
                items.push(json!({"kind": "calendar#event", "id": e.id, "status": "cancelled"}));
            }
            continue;
        }
        match (&e.recurrence, single) {
            (Some(rule), true) => items.extend(instances(data, e, rule)),
            _ => items.push(event(data, e)),
        }
    }
    let size = q("maxResults")
        .and_then(|m| m.parse::<usize>().ok())
        .unwrap_or(250)
        .clamp(1, 2500);
    let page: Vec<Value> = items.iter().skip(offset).take(size).cloned().collect();
    let mut body = json!({"kind": "calendar#events", "summary": id, "timeZone": "UTC",
        "updated": rfc3339(data.now), "items": page});
    if offset + size < items.len() {
        body["nextPageToken"] = json!(format!(
            "ev~{}~{since}~{}~{}",
            offset + size,
            calendar.epoch,
            u8::from(single)
        ));
    } else {
        body["nextSyncToken"] = json!(format!("st~{}~{}", calendar.epoch, data.seq.max(1)));
    }
    Ok(Response::json(200, &body))
}

/// `events.insert`: an event with `summary`, `start` and `end` (a `dateTime` or a `date` each),
/// optional `description` and `attendees` (by e-mail, known users only in this fake).
fn insert(data: &mut Data, call: &Call, body: &[u8]) -> Result<Response, Refusal> {
    let calendar = call.path["calendarId"].clone();
    if !data.calendars.contains_key(&calendar) {
        return Err(Refusal::answer(404, "notFound", "Not Found"));
    }
    let event: Value = serde_json::from_slice(body)
        .map_err(|_| Refusal::violation(400, "parseError", "Parse Error"))?;
    let when = |v: &Value| -> Result<When, Refusal> {
        if let Some(t) = v["dateTime"].as_str() {
            let (ms, offset) = crate::json::parse_rfc3339(t).ok_or_else(|| {
                Refusal::violation(400, "invalid", &format!("Invalid start or end time: {t}"))
            })?;
            return Ok(When::At {
                ms,
                offset_minutes: offset,
            });
        }
        match v["date"].as_str() {
            Some(d) if d.len() == 10 => Ok(When::Day(d.to_owned())),
            _ => Err(Refusal::violation(400, "required", "Missing end time.")),
        }
    };
    let (start, end) = (when(&event["start"])?, when(&event["end"])?);
    let user = |email: &str| data.users.iter().position(|u| u.email == email);
    let attendees = event["attendees"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            user(a["email"].as_str().unwrap_or_default())
                .ok_or_else(|| Refusal::violation(400, "invalid", "Invalid attendee email."))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let id = format!("created{}", data.seq + 1);
    data.add_event(
        &calendar,
        Event {
            id: id.clone(),
            summary: event["summary"].as_str().unwrap_or_default().to_owned(),
            description: event["description"].as_str().unwrap_or_default().to_owned(),
            start,
            end,
            status: "confirmed".into(),
            organizer: 0,
            attendees,
            updated: 0,
            recurrence: None,
            seq: 0,
        },
    );
    let created = data.calendars[&calendar]
        .events
        .iter()
        .find(|e| e.id == id)
        .cloned()
        .ok_or_else(|| Refusal::answer(500, "backendError", "lost"))?;
    Ok(Response::json(200, &crate::calendar::event(data, &created)))
}

fn person(data: &Data, u: usize) -> Value {
    json!({"email": data.users[u].email, "displayName": data.users[u].name})
}

pub(crate) fn event(data: &Data, e: &Event) -> Value {
    let mut v = json!({
        "kind": "calendar#event", "id": e.id, "status": e.status,
        "htmlLink": format!("https://www.google.com/calendar/event?eid={}", e.id),
        "created": rfc3339(e.updated), "updated": rfc3339(e.updated), "summary": e.summary,
        "organizer": person(data, e.organizer), "start": when(&e.start), "end": when(&e.end),
        "iCalUID": format!("{}@google.com", e.id), "sequence": 0,
        "attendees": e.attendees.iter().map(|a| {
            let mut p = person(data, *a);
            p["responseStatus"] = json!("needsAction");
            p
        }).collect::<Vec<_>>(),
    });
    if !e.description.is_empty() {
        v["description"] = json!(e.description);
    }
    if let Some(rule) = &e.recurrence {
        v["recurrence"] = json!([rule]);
    }
    v
}

/// The instances of a `FREQ=DAILY|WEEKLY;COUNT=n` rule (timed events only).
fn instances(data: &Data, e: &Event, rule: &str) -> Vec<Value> {
    let step = if rule.contains("FREQ=WEEKLY") {
        7 * 86_400_000
    } else {
        86_400_000
    };
    let count: i64 = rule
        .split(';')
        .find_map(|p| p.strip_prefix("COUNT="))
        .and_then(|c| c.parse().ok())
        .unwrap_or(1);
    let (
        When::At {
            ms: start,
            offset_minutes,
        },
        When::At { ms: end, .. },
    ) = (&e.start, &e.end)
    else {
        return vec![event(data, e)];
    };
    (0..count)
        .map(|i| {
            let (s, t) = (start + i * step, end + i * step);
            let stamp = rfc3339(s).replace(['-', ':'], "").replace(".000", "");
            let mut v = event(data, e);
            let object = v.as_object_mut().expect("an object");
            object.remove("recurrence");
            v["id"] = json!(format!("{}_{stamp}", e.id));
            v["recurringEventId"] = json!(e.id);
            v["start"] = when(&When::At {
                ms: s,
                offset_minutes: *offset_minutes,
            });
            v["end"] = when(&When::At {
                ms: t,
                offset_minutes: *offset_minutes,
            });
            v["originalStartTime"] = v["start"].clone();
            v
        })
        .collect()
}
