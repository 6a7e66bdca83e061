"""``cc_task_create`` narrowed to what must happen in SQL, under the locks; one function again.

Replaces 0003's ``cc_task_create`` and 0004's ``cc_task_create_by`` wrapper (which ran two more
UPDATEs per create to set the priority and the events' actor): priority and actor are
parameters now. What stays in SQL, in the documented lock order:

1. the limited agents, ``FOR UPDATE`` in ascending id order; stock checked on the locked rows
   (nothing is written when one is gone or short: the caller gets the refusal and raises);
2. the day's ``DailySequence`` row (the task number), the task;
3. the stock decrements (a conditional UPDATE whose row count is checked, backed by the CHECK
   constraint) with their ``StockMovement`` rows, the items;
4. ``task.created`` through ``cc_event_append`` (events/0001: the one SQL definition of an
   append), the event counter being the last lock taken.

What left SQL: the low-stock / sold-out crossing rule. The function returns each taken agent's
stock after the decrement (with its name, category and threshold as locked), and
``tasks.services.task_create`` has ``agents.stock.stock_events_emit`` append the events it calls
for, in the same transaction. Column lists are checked against the models by
tasks/tests/test_create_function_columns.py (parsed from pg_proc).

The ``task.created`` payload is built in Python (``tasks.serializers.task_representation``) and
passed in without ids: its items (name, category, price snapshots, totals) are the rows the
function inserts, and it fills in the task id, number and item ids.

It is created in every tenant schema (tenant app migration) and copied with the schema by the
template clone; tables resolve through the tenant's ``search_path``.
"""

import django.core.validators
from django.db import migrations, models

DROP_OLD = """
DROP FUNCTION IF EXISTS cc_task_create_by(
    text, jsonb, date, timestamptz, bigint, text, text, text, numeric, numeric, bigint[],
    integer[], jsonb, bigint[]
);
DROP FUNCTION IF EXISTS cc_task_create(
    date, timestamptz, bigint, text, text, text, numeric, numeric, bigint[], integer[], jsonb,
    bigint[]
);
"""

CREATE_FUNCTION = r"""
CREATE OR REPLACE FUNCTION cc_task_create(
    p_priority text,
    p_actor jsonb,                -- of the task.created event
    p_day date,
    p_now timestamptz,
    p_user_id bigint,
    p_workspace text,
    p_customer_name text,
    p_notes text,
    p_subtotal numeric,
    p_discount numeric,
    p_take_ids bigint[],          -- limited agents, ascending id
    p_take_qty integer[],         -- quantity taken from each (lines of one agent summed)
    p_payload jsonb,              -- the task.created payload without ids and number; its items
                                  -- (prices already snapshotted) are the rows to insert
    p_category_ids bigint[]       -- categories of the items (screens filter on them)
) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    v_found integer;
    v_limited integer := 0;
    v_taken integer;
    v_stock jsonb;
    v_missing jsonb;
    v_short jsonb;
    v_seq integer;
    v_number text;
    v_task_id bigint;
    v_item_ids bigint[];
    v_event_seq bigint;
BEGIN
    -- 1. Lock the limited agents in id order and check their stock under the lock, in one
    --    statement; nothing is written when one is gone or short.
    IF cardinality(p_take_ids) > 0 THEN
        SELECT count(*),
               count(*) FILTER (WHERE stock IS NOT NULL),
               jsonb_agg(jsonb_build_object(
                   'agent_id', id, 'name', name, 'requested', q, 'available', stock
               ) ORDER BY id) FILTER (WHERE stock IS NOT NULL AND stock < q)
          INTO v_found, v_limited, v_short
          FROM (
              SELECT a.id, a.name, a.stock, v.q
                FROM agents_agent a JOIN unnest(p_take_ids, p_take_qty) AS v(id, q) ON a.id = v.id
               ORDER BY a.id
                 FOR UPDATE OF a
          ) AS locked;
        IF v_found < cardinality(p_take_ids) THEN
            SELECT jsonb_agg(v.id ORDER BY v.id) INTO v_missing
              FROM unnest(p_take_ids) AS v(id)
             WHERE NOT EXISTS (SELECT 1 FROM agents_agent a WHERE a.id = v.id);
            RETURN jsonb_build_object('error', 'AGENT_NOT_FOUND', 'agent_ids', v_missing);
        END IF;
        IF v_short IS NOT NULL THEN
            RETURN jsonb_build_object('error', 'INSUFFICIENT_STOCK', 'agents', v_short);
        END IF;
    END IF;

    -- 2. The day's sequence (the row stays locked until commit: no duplicate, no gap), and
    --    the task under its number (tasks.services.task_number: the same format).
    WITH day AS (
        INSERT INTO tasks_dailysequence (business_date, last_value) VALUES (p_day, 1)
        ON CONFLICT (business_date) DO UPDATE SET last_value = tasks_dailysequence.last_value + 1
        RETURNING last_value
    ), numbered AS (
        SELECT last_value AS seq,
               to_char(p_day, 'YYYYMMDD') || CASE WHEN last_value < 1000
                   THEN lpad(last_value::text, 3, '0') ELSE last_value::text END AS number
          FROM day
    )
    INSERT INTO tasks_task (
        number, business_date, sequence, status, priority, workspace, customer_name, notes,
        subtotal, discount, total, pinned, created_by_id, created_at, updated_at, cancel_reason
    )
    SELECT number, p_day, seq, 'pending', p_priority, p_workspace, p_customer_name, p_notes,
           p_subtotal, p_discount, p_subtotal - p_discount, false, p_user_id, p_now, p_now, ''
      FROM numbered
    RETURNING id, number, sequence INTO v_task_id, v_number, v_seq;

    -- 3. The stock with its ledger (a conditional UPDATE, backed by the CHECK constraint: on
    --    the locked rows it takes every one, and anything else aborts the whole create), the
    --    items. The levels after go back to Python, which decides what they announce.
    IF v_limited > 0 THEN
        WITH taken AS (
            UPDATE agents_agent AS a SET stock = a.stock - v.q, updated_at = p_now
              FROM unnest(p_take_ids, p_take_qty) AS v(id, q)
             WHERE a.id = v.id AND a.stock IS NOT NULL AND a.stock >= v.q
            RETURNING a.id, a.name, a.category_id, a.low_stock_threshold, a.stock, v.q
        ), ledger AS (
            INSERT INTO agents_stockmovement
                (agent_id, delta, reason, task_id, stock_after, user_id, note, at)
            SELECT id, -q, 'task', v_task_id, stock, p_user_id, '', p_now FROM taken
        )
        SELECT count(*),
               jsonb_agg(jsonb_build_object(
                   'id', id, 'name', name, 'category_id', category_id,
                   'low_stock_threshold', low_stock_threshold, 'stock_after', stock
               ) ORDER BY id)
          INTO v_taken, v_stock
          FROM taken;
        IF v_taken <> v_limited THEN
            RAISE EXCEPTION 'cc_task_create: % of % locked agents had their stock taken',
                v_taken, v_limited;
        END IF;
    END IF;

    WITH inserted AS (
        INSERT INTO tasks_taskitem (
            task_id, agent_id, agent_name, category_id_snapshot, category_name,
            unit_price, quantity, line_total, notes, done
        )
        SELECT v_task_id, i.agent_id, i.agent_name, i.category_id, i.category_name,
               i.unit_price, i.quantity, i.line_total, i.notes, false
          FROM jsonb_array_elements(p_payload -> 'items') WITH ORDINALITY AS e(item, ord),
               jsonb_to_record(e.item) AS i(
                   agent_id bigint, agent_name text, category_id bigint, category_name text,
                   unit_price numeric, quantity integer, line_total numeric, notes text
               )
         ORDER BY e.ord
        RETURNING id
    )
    SELECT array_agg(id ORDER BY id) INTO v_item_ids FROM inserted;

    -- 4. task.created, last: the event counter is the last lock taken.
    v_event_seq := cc_event_append(
        'task.created',
        v_task_id,
        p_category_ids,
        p_payload || jsonb_build_object(
            'id', v_task_id,
            'number', v_number,
            'items', (
                SELECT jsonb_agg(e.item || jsonb_build_object('id', v_item_ids[e.ord])
                                 ORDER BY e.ord)
                  FROM jsonb_array_elements(p_payload -> 'items') WITH ORDINALITY AS e(item, ord)
            )
        ),
        p_actor,
        p_now
    );

    RETURN jsonb_build_object(
        'task_id', v_task_id,
        'number', v_number,
        'sequence', v_seq,
        'item_ids', to_jsonb(v_item_ids),
        'task_event_seq', v_event_seq,
        'stock', coalesce(v_stock, '[]'::jsonb)
    );
END
$fn$;
"""

DROP_FUNCTION = """
DROP FUNCTION IF EXISTS cc_task_create(
    text, jsonb, date, timestamptz, bigint, text, text, text, numeric, numeric, bigint[],
    integer[], jsonb, bigint[]
);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("tasks", "0006_event_log_to_events_app"),
        ("events", "0001_initial"),
    ]

    operations = [
        # Backwards: 0003's and 0004's functions come back when those migrations are
        # unapplied in turn; going back to 0006 alone leaves no create function.
        migrations.RunSQL(DROP_OLD, migrations.RunSQL.noop),
        migrations.RunSQL(CREATE_FUNCTION, DROP_FUNCTION),
        migrations.AlterField(
            model_name="taskitem",
            name="quantity",
            field=models.PositiveSmallIntegerField(
                validators=[
                    django.core.validators.MinValueValidator(1),
                    django.core.validators.MaxValueValidator(999),
                ]
            ),
        ),
        migrations.AlterField(
            model_name="tasknote",
            name="score",
            field=models.PositiveSmallIntegerField(
                blank=True,
                null=True,
                validators=[
                    django.core.validators.MinValueValidator(1),
                    django.core.validators.MaxValueValidator(5),
                ],
            ),
        ),
    ]
