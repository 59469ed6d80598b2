"""What the help screen says about each section: a line on what it is for, and what each column means.

The keys are not listed here: the help screen reads them from the section's own bindings, so a new
action shows up in the help the moment it exists.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SectionHelp:
    summary: str
    columns: tuple[tuple[str, str], ...] = ()


SECTION_HELP: dict[str, SectionHelp] = {
    "dashboard": SectionHelp(
        "The server at a glance: address, uptime and database; videos by status; the transcode queue, uploads "
        "and disk; views of the last 14 days; transfers in progress and the latest events, all live."),
    "videos": SectionHelp(
        "Every video, private ones included. The pane below shows the highlighted video's files, renditions, "
        "jobs, views and comments. Filter by status; \"missing\" lists videos whose files were found gone.",
        (("ID", "the video's number, as in /watch/<id> and /hls/<id>/"),
         ("Title", "its title (edit with e)"),
         ("Year", "release year, - when unknown"),
         ("Status", "uploading, processing (queued or transcoding), ready (playable), failed, or missing "
                    "(its files are gone: see the reason in the details)"),
         ("Public", "yes: listed in the catalog; no: plays only through signed links"),
         ("Added", "when the video was created"))),
    "series": SectionHelp(
        "Shows and their episodes in order. The pane below lists the highlighted series' episodes (tab moves "
        "there): detach, renumber a misnamed file (only its numbers change, nothing is transcoded again) or "
        "set its intro/outro, for one episode or the whole season. Deleting a series keeps its videos. "
        "u shows the files ingest could not place: "
        "a attaches the highlighted one to a series, n makes a new series from it.",
        (("ID", "the series' number (GET /api/series/<id>)"), ("Title", "its title"),
         ("Native", "its title in Hangul"), ("Year", "first aired"), ("Status", "airing or completed"),
         ("Ready/eps", "episodes ready to play, of all its episodes"),
         ("Missing", "episode numbers below the highest that no file covers (S2: per season)"))),
    "uploads": SectionHelp(
        "Upload sessions still in flight (chunked and tus), with live progress. Aborting deletes what was "
        "received; a tus client may start again.",
        (("ID", "the upload session's number"), ("File", "the file name the client gave"),
         ("By", "the account uploading"), ("Progress", "bytes received of the declared size"),
         ("Size", "declared size (unknown while a tus client defers it)"),
         ("Started", "when the session was opened"))),
    "jobs": SectionHelp(
        "The transcode queue in the order it runs: running jobs, queued ones by priority (1 runs first) and "
        "age, then finished ones. f switches between all, active and failed.",
        (("ID", "the job's number"), ("Video", "the video it transcodes"),
         ("Status", "queued, processing, completed, failed or cancelled"),
         ("Pri", "priority 1-10, 1 runs first (+ raises, - lowers, queued jobs only)"),
         ("Progress", "how far the running transcode is"), ("Try", "attempt number (retries count up)"),
         ("Queued", "when the job was queued"))),
    "users": SectionHelp(
        "Accounts. The last active admin cannot lose the role or be deactivated; a new password or "
        "deactivation ends that account's sessions.",
        (("ID", "the account's number"), ("Username", "sign-in name"), ("Email", "sign-in address"),
         ("Role", "admin (this dashboard, every video) or user (own videos and uploads)"),
         ("Active", "no: cannot sign in, its keys stop working"), ("Last login", "last password sign-in"),
         ("Created", "when the account was made"))),
    "keys": SectionHelp(
        "API keys (X-API-Key) of every account. A key is shown once, when issued; here only its prefix.",
        (("ID", "the key's number"), ("User", "the account it acts as"), ("Name", "what it is for"),
         ("Key", "the first characters of the key, to recognise it"),
         ("State", "active, expired or revoked"), ("Expires", "when it stops working (never: no expiry)"),
         ("Last used", "the last request made with it"), ("Issued", "when it was issued"))),
    "comments": SectionHelp(
        "Comments on every video. Anonymous comments wait here (pending) until approved; f switches between "
        "pending, approved and all.",
        (("ID", "the comment's number"), ("Video", "the video it is on"),
         ("State", "pending (not shown to viewers) or approved"), ("By", "the account, or anonymous"),
         ("When", "when it was written"), ("Comment", "its text (in full below)"))),
    "backups": SectionHelp(
        "Backups hold the database, the master key and the configuration, not the media: back the media "
        "folder or bucket up apart. Restoring keeps the replaced database as a prerestore backup, then "
        "checks every ready video's files (re-queued or marked missing) and restarts the server.",
        (("Name", "the backup file"), ("Where", "local (backup folder) or cloud (the bucket)"),
         ("Kind", "backup, or prerestore: the database a restore replaced"),
         ("Made", "when it was taken"), ("Size", "file size (cloud: compressed and encrypted)"),
         ("Encrypted", "yes for cloud copies (backup.encryption_key)"))),
    "logs": SectionHelp(
        "The server process's log records, live; l changes the minimum level, c clears the view."),
    "settings": SectionHelp(
        "The server's effective configuration: defaults, overlaid by the config file, overlaid by KDRAMA_* "
        "environment variables. Secrets are masked.",
        (("Setting", "section.key, as in the config file ([section] key = ...)"),
         ("Value", "the value in effect"))),
}

GLOBAL_KEYS: tuple[tuple[str, str], ...] = (
    ("1-9, 0, S", "go to a section (S: Series; or click its name in the top bar)"),
    ("? / F1", "this help"),
    ("ctrl+p", "command palette: every action by name"),
    ("q", "quit (all in one: asks first, since the server stops too)"),
)
