//! Checklists, their sections and tasks: the records, assembling them into trees, and the
//! task bodies.
use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{ApiError, ErrorKind, FieldErrors};
use crate::input::{BodyReader, Patch};
use crate::query::{PlainParams, positive_param};

use super::{MAX_TITLE, TASK_STATUSES, VaultRef};

const MAX_DESCRIPTION: usize = 20_000;
const MAX_DOCUMENT_TYPES: usize = 50;

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DealChecklist {
    pub id: i64,
    pub vault: VaultRef,
    pub sections: Vec<ChecklistSection>,
    pub tasks: Vec<ChecklistTask>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ChecklistSection {
    pub id: i64,
    pub name: String,
    pub position: i64,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub tasks: Vec<ChecklistTask>,
    #[serde(skip)]
    pub checklist_id: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ChecklistTask {
    pub id: i64,
    pub title: String,
    pub description: Option<String>,
    pub status: String,
    pub is_completed: bool,
    pub position: i64,
    pub due_date: Option<String>,
    pub role: Option<String>,
    pub assignee: Option<ChecklistAssignee>,
    pub assigned_team: Option<ChecklistAssignedTeam>,
    pub collaborators: Vec<ChecklistCollaborator>,
    pub document_types: Vec<ChecklistDocumentType>,
    pub files: Vec<ChecklistTaskFile>,
    #[schema(no_recursion)]
    pub subtasks: Vec<ChecklistTask>,
    #[serde(skip)]
    pub checklist_id: i64,
    #[serde(skip)]
    pub section_id: Option<i64>,
    #[serde(skip)]
    pub parent_task_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ChecklistAssignee {
    pub id: i64,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ChecklistAssignedTeam {
    pub id: i64,
    #[serde(rename = "type")]
    pub team_type: String,
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ChecklistCollaborator {
    pub id: Option<i64>,
    pub email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ChecklistDocumentType {
    pub id: i64,
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ChecklistTaskFile {
    pub vault_resource_id: i64,
    pub document_id: Option<i64>,
    pub name: Option<String>,
    pub origin: String,
}

/// A checklist without its tree: id and Deal Room.
#[derive(Debug, Clone, PartialEq)]
pub struct ChecklistHead {
    pub id: i64,
    pub vault: VaultRef,
}

/// Builds each checklist's tree from flat rows: sections in position order with their tasks,
/// root tasks, and subtasks under their parent. Rows must come in display order (position,
/// then id); a subtask whose parent is missing is dropped rather than shown at the wrong level.
pub fn assemble_checklists(
    heads: Vec<ChecklistHead>,
    sections: Vec<ChecklistSection>,
    tasks: Vec<ChecklistTask>,
) -> Vec<DealChecklist> {
    let mut subtasks: HashMap<i64, Vec<ChecklistTask>> = HashMap::new();
    let mut top: Vec<ChecklistTask> = Vec::new();
    for t in tasks {
        match t.parent_task_id {
            Some(p) => subtasks.entry(p).or_default().push(t),
            None => top.push(t),
        }
    }
    let mut in_section: HashMap<i64, Vec<ChecklistTask>> = HashMap::new();
    let mut at_root: HashMap<i64, Vec<ChecklistTask>> = HashMap::new();
    for mut t in top {
        t.subtasks = subtasks.remove(&t.id).unwrap_or_default();
        match t.section_id {
            Some(s) => in_section.entry(s).or_default().push(t),
            None => at_root.entry(t.checklist_id).or_default().push(t),
        }
    }
    let mut sections_of: HashMap<i64, Vec<ChecklistSection>> = HashMap::new();
    for mut s in sections {
        s.tasks = in_section.remove(&s.id).unwrap_or_default();
        sections_of.entry(s.checklist_id).or_default().push(s);
    }
    heads
        .into_iter()
        .map(|h| DealChecklist {
            id: h.id,
            vault: h.vault,
            sections: sections_of.remove(&h.id).unwrap_or_default(),
            tasks: at_root.remove(&h.id).unwrap_or_default(),
        })
        .collect()
}

/// Where a new task goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskParent {
    Section(i64),
    Checklist(i64),
    Task(i64),
}

/// How a task sits in its checklist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskPlace {
    pub checklist_id: i64,
    pub section_id: Option<i64>,
    pub parent_task_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewTask {
    pub parent: TaskParent,
    pub title: String,
    pub description: Option<String>,
    pub status: &'static str,
    pub assigned_user_id: Option<i64>,
    pub due_date: Option<String>,
    pub document_type_ids: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct TaskChanges {
    pub title: Option<String>,
    pub description: Option<Option<String>>,
    pub status: Option<&'static str>,
    pub assigned_user_id: Option<Option<i64>>,
    pub due_date: Option<Option<String>>,
    /// Only ever `Some(false)`: reopening.
    pub reopen: bool,
    pub document_type_ids: Option<Vec<i64>>,
}

impl TaskChanges {
    pub fn is_empty(&self) -> bool {
        self.title.is_none()
            && self.description.is_none()
            && self.status.is_none()
            && self.assigned_user_id.is_none()
            && self.due_date.is_none()
            && !self.reopen
            && self.document_type_ids.is_none()
    }
}

fn patch_to_option<T>(p: Patch<T>) -> Option<Option<T>> {
    match p {
        Patch::Absent => None,
        Patch::Null => Some(None),
        Patch::Value(v) => Some(Some(v)),
    }
}

/// A positive integer id member; `Absent` when missing, 422 for anything else.
pub(super) fn read_id(obj: &Map<String, Value>, field: &str, errors: &mut FieldErrors) -> Patch<i64> {
    match obj.get(field) {
        None => Patch::Absent,
        Some(Value::Null) => Patch::Null,
        Some(v) => match v.as_i64() {
            Some(id) if id > 0 => Patch::Value(id),
            _ => {
                errors.add(field, "must be a positive integer");
                Patch::Absent
            }
        },
    }
}

/// A 422 with a message of its own (the reference's wording) and the fields it concerns.
pub(super) fn rule_error(message: &str, fields: &[(&str, &str)]) -> ApiError {
    let mut m = Map::new();
    for (f, p) in fields {
        m.insert((*f).to_string(), Value::from(*p));
    }
    ApiError::new(ErrorKind::Validation, message).with_detail("fields", Value::Object(m))
}

/// Validates a `POST /checklist-tasks` body.
pub fn parse_new_task(body: &Map<String, Value>) -> Result<NewTask, ApiError> {
    let mut r = BodyReader::new(body);
    let title = r.string("title", MAX_TITLE, true);
    r.required("title", &title);
    let description = r.string("description", MAX_DESCRIPTION, false);
    let status = r.enumeration("status", TASK_STATUSES);
    let due_date = r.date("due_date");
    let document_type_ids = r.id_array("document_type_ids", MAX_DOCUMENT_TYPES);
    let mut errors = r.errors;
    let section = read_id(body, "section_id", &mut errors);
    let checklist = read_id(body, "checklist_id", &mut errors);
    let parent = read_id(body, "parent_task_id", &mut errors);
    let assignee = read_id(body, "assigned_user_id", &mut errors);
    errors.finish()?;
    let parents: Vec<TaskParent> = [
        section.value().map(TaskParent::Section),
        checklist.value().map(TaskParent::Checklist),
        parent.value().map(TaskParent::Task),
    ]
    .into_iter()
    .flatten()
    .collect();
    let [parent] = parents.as_slice() else {
        return Err(rule_error(
            "Provide exactly one of section_id, checklist_id, or parent_task_id",
            &[("section_id", "exactly one of section_id, checklist_id, parent_task_id is required")],
        ));
    };
    Ok(NewTask {
        parent: *parent,
        title: title.value().unwrap_or_default().trim().to_string(),
        description: description.value(),
        status: status.value().unwrap_or("to_do"),
        assigned_user_id: assignee.value(),
        due_date: due_date.value(),
        document_type_ids: document_type_ids.value().unwrap_or_default(),
    })
}

/// Validates a `PATCH /checklist-tasks/{task_id}` body.
pub fn parse_task_changes(body: &Map<String, Value>) -> Result<TaskChanges, ApiError> {
    if let Some(v) = body.get("is_completed") {
        match v {
            Value::Bool(false) => {}
            Value::Bool(true) => {
                return Err(rule_error(
                    "is_completed accepts false only; to mark a task complete use the complete endpoint",
                    &[("is_completed", "accepts false only")],
                ));
            }
            _ => return Err(ApiError::invalid_field("is_completed", "must be false")),
        }
    }
    let mut r = BodyReader::new(body);
    let title = match r.string("title", MAX_TITLE, true) {
        Patch::Null => {
            r.errors.add("title", "must not be null");
            None
        }
        p => p.value().map(|t| t.trim().to_string()),
    };
    let description = patch_to_option(r.string("description", MAX_DESCRIPTION, false));
    let status = match r.enumeration("status", TASK_STATUSES) {
        Patch::Null => {
            r.errors.add("status", "must not be null");
            None
        }
        p => p.value(),
    };
    let due_date = patch_to_option(r.date("due_date"));
    let document_type_ids = match r.id_array("document_type_ids", MAX_DOCUMENT_TYPES) {
        Patch::Absent => None,
        Patch::Null => Some(Vec::new()),
        Patch::Value(v) => Some(v),
    };
    let mut errors = r.errors;
    let assigned_user_id = patch_to_option(read_id(body, "assigned_user_id", &mut errors));
    errors.finish()?;
    Ok(TaskChanges {
        title,
        description,
        status,
        assigned_user_id,
        due_date,
        reopen: body.get("is_completed") == Some(&Value::Bool(false)),
        document_type_ids,
    })
}

/// `vault_id` of the checklist list.
pub fn parse_checklist_query(raw_query: Option<&str>) -> Result<Option<i64>, ApiError> {
    let params = PlainParams::parse(raw_query)?;
    params.get("vault_id").map(|v| positive_param("vault_id", v)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn task_bodies() {
        let t = parse_new_task(&obj(json!({"title": " Rent roll ", "section_id": 4}))).unwrap();
        assert_eq!((t.parent, t.title.as_str(), t.status), (TaskParent::Section(4), "Rent roll", "to_do"));
        let e = parse_new_task(&obj(json!({"title": "x", "section_id": 4, "checklist_id": 2}))).unwrap_err();
        assert_eq!(e.message, "Provide exactly one of section_id, checklist_id, or parent_task_id");
        let e = parse_new_task(&obj(json!({"title": "x"}))).unwrap_err();
        assert_eq!(e.status(), 422);
        let e = parse_new_task(&obj(json!({"title": " ", "checklist_id": "1", "status": "done"}))).unwrap_err();
        let f = e.details["fields"].as_object().unwrap();
        assert!(f.contains_key("title") && f.contains_key("checklist_id") && f.contains_key("status"), "{f:?}");

        let c =
            parse_task_changes(&obj(json!({"description": null, "due_date": null, "assigned_user_id": 3}))).unwrap();
        assert_eq!(c.description, Some(None));
        assert_eq!(c.assigned_user_id, Some(Some(3)));
        assert!(parse_task_changes(&Map::new()).unwrap().is_empty());
        let e = parse_task_changes(&obj(json!({"is_completed": true}))).unwrap_err();
        assert!(e.message.starts_with("is_completed accepts false only"));
        assert!(parse_task_changes(&obj(json!({"is_completed": false}))).unwrap().reopen);
        assert_eq!(parse_task_changes(&obj(json!({"title": null}))).unwrap_err().status(), 422);
        assert_eq!(
            parse_task_changes(&obj(json!({"document_type_ids": null}))).unwrap().document_type_ids,
            Some(vec![])
        );
    }

    #[test]
    fn checklists_assemble_into_trees() {
        let task = |id: i64, section: Option<i64>, parent: Option<i64>| ChecklistTask {
            id,
            title: format!("t{id}"),
            description: None,
            status: "to_do".into(),
            is_completed: false,
            position: id,
            due_date: None,
            role: None,
            assignee: None,
            assigned_team: None,
            collaborators: vec![],
            document_types: vec![],
            files: vec![],
            subtasks: vec![],
            checklist_id: 1,
            section_id: section,
            parent_task_id: parent,
        };
        let heads = vec![ChecklistHead { id: 1, vault: VaultRef { id: 9, vault_type: "shared".into(), title: None } }];
        let sections = vec![ChecklistSection {
            id: 5,
            name: "Financials".into(),
            position: 1,
            start_date: None,
            end_date: None,
            tasks: vec![],
            checklist_id: 1,
        }];
        let tasks =
            vec![task(1, Some(5), None), task(2, None, None), task(3, Some(5), Some(1)), task(4, None, Some(99))];
        let out = assemble_checklists(heads, sections, tasks);
        assert_eq!(out[0].sections[0].tasks[0].id, 1);
        assert_eq!(out[0].sections[0].tasks[0].subtasks[0].id, 3);
        assert_eq!(out[0].tasks.iter().map(|t| t.id).collect::<Vec<_>>(), [2]);
    }
}
