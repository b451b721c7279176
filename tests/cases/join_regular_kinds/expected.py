# Expected final tables (SQLite) and input files of two cases: join_regular_kinds and,
# from "# updating inputs" on, join_updating_inputs (run it in each folder for its files).
import sqlite3, json
customers=[(1,'ann','gold'),(2,'bo','silver'),(3,'cy','gold'),(5,'eve','bronze'),(None,'nul','gold'),(3,'cy2','silver')]
orders=[(100,1,10),(101,1,25),(102,2,5),(103,4,7),(104,None,9),(105,3,30),(106,1,10)]
db=sqlite3.connect(':memory:')
db.execute('create table customers(cid int, name text, tier text)')
db.execute('create table orders(oid int, cid int, amount int)')
db.executemany('insert into customers values(?,?,?)',customers)
db.executemany('insert into orders values(?,?,?)',orders)
def fmt(v):
    return 'null' if v is None else str(v)
def show(title,q):
    rows=sorted('['+', '.join(fmt(v) for v in r)+']' for r in db.execute(q))
    print('#',title)
    print('final = [')
    for r in rows: print('  "%s",'%r)
    print(']')
qs=[
 ('inner',"SELECT o.oid, o.amount, c.name FROM orders o JOIN customers c ON o.cid = c.cid"),
 ('left',"SELECT o.oid, c.name FROM orders o LEFT JOIN customers c ON o.cid = c.cid"),
 ('right',"SELECT o.oid, c.name FROM orders o RIGHT JOIN customers c ON o.cid = c.cid"),
 ('full',"SELECT o.oid, o.cid, c.cid, c.name FROM orders o FULL OUTER JOIN customers c ON o.cid = c.cid"),
 ('left_nonequi',"SELECT o.oid, c.name FROM orders o LEFT JOIN customers c ON o.cid = c.cid AND o.amount >= 10 AND c.tier = 'gold'"),
 ('expr_key',"SELECT o.oid, c.name FROM orders o JOIN customers c ON o.oid - 100 = c.cid"),
 ('full_nonequi',"SELECT o.oid, c.name FROM orders o FULL JOIN customers c ON o.cid = c.cid AND o.amount > 9"),
]
for t,q in qs: show(t,q)
# updating inputs
show('agg_inner',"SELECT c.name, t.total FROM (SELECT cid, SUM(amount) AS total FROM orders GROUP BY cid) t JOIN customers c ON t.cid = c.cid")
show('agg_left',"SELECT c.name, t.total, t.n FROM customers c LEFT JOIN (SELECT cid, SUM(amount) AS total, COUNT(*) AS n FROM orders GROUP BY cid) t ON c.cid = t.cid")
statuses=[('open','Open'),('paid','Paid'),('cancelled','Cancelled'),('shipped','Shipped')]
events=[(1,'open','2024-01-01 10:00:01'),(2,'open','2024-01-01 10:00:02'),(1,'paid','2024-01-01 10:00:03'),(2,'paid','2024-01-01 10:00:04'),(3,'open','2024-01-01 10:00:05'),(3,'cancelled','2024-01-01 10:00:06'),(4,'open','2024-01-01 10:00:07')]
db.execute('create table statuses(code text, label text)'); db.executemany('insert into statuses values(?,?)',statuses)
db.execute('create table events(oid int, status text, ts text)'); db.executemany('insert into events values(?,?,?)',events)
db.execute("create view latest as select oid, status from events e where ts = (select max(ts) from events e2 where e2.oid=e.oid)")
show('status_left',"SELECT s.code, s.label, l.oid FROM statuses s LEFT JOIN latest l ON s.code = l.status")
show('status_full_counts',"SELECT s.code, l.status, l.oid FROM statuses s FULL JOIN latest l ON s.code = l.status")
with open('customers.json','w') as f:
    for c in customers: f.write(json.dumps(dict(cid=c[0],name=c[1],tier=c[2]))+'\n')
with open('orders.json','w') as f:
    for o in orders: f.write(json.dumps(dict(oid=o[0],cid=o[1],amount=o[2]))+'\n')
with open('statuses.json','w') as f:
    for s in statuses: f.write(json.dumps(dict(code=s[0],label=s[1]))+'\n')
with open('events.json','w') as f:
    for e in events: f.write(json.dumps(dict(oid=e[0],status=e[1],ts=e[2]))+'\n')
