-- 0018_thread_seq: a sequence of each thread's events, beside its
-- deployment's. The events that a session shows (herm.InThreadSequence)
-- of the threads of hidden deployments (agent_id set: sessions' threads;
-- the store decides when it bumps the deployment's sequence, which tells
-- it) are numbered per thread, 1, 2, 3, … in the order they are appended
-- (events.thread_seq), so that a session's client reads and resumes its
-- thread by numbers of its own, without the gaps that the deployment's
-- other threads and the events a session does not show leave in seq.
-- thread_seq is NULL for the other events, and for those appended before
-- this migration: a thread's sequence starts with its first event
-- appended after it.
--
-- The last number given in each thread is kept in a table of its own,
-- thread_event_seqs, deliberately not in a column of threads. An append
-- takes it after its deployment's row (the row lock of the sequence bump,
-- held until commit, is what makes a batch's numbers its own), while a
-- transaction may hold a thread's row before it appends: a Send updates
-- the thread (TouchThread) and then appends under the deployment's row
-- lock. Where writers run concurrently (PostgreSQL), an append that held
-- the deployment's row and then wanted the thread's would deadlock with
-- such a transaction. Only appends write thread_event_seqs, each always
-- after its deployment's row, and a thread's counter is bumped only by
-- events of the thread's own deployment: appends never deadlock over it.
-- Retention leaves the counters alone (a thread's sequence goes on after
-- its oldest events are deleted); a counter goes with its thread.

ALTER TABLE events ADD COLUMN thread_seq BIGINT; -- NULL outside the thread's sequence

CREATE TABLE thread_event_seqs (
    thread_id TEXT COLLATE "C" PRIMARY KEY REFERENCES threads (id) ON DELETE CASCADE,
    seq       BIGINT NOT NULL                             -- the last assigned thread_seq
);

-- ListThreadEvents, ThreadEventBounds.
CREATE INDEX events_thread_seq ON events (thread_id, thread_seq) WHERE thread_seq IS NOT NULL;
