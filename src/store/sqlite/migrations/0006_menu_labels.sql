-- Migration 6: allergens, 원산지 and translations of menu items (one JSON column), and
-- translated category names.
ALTER TABLE menus ADD COLUMN labels TEXT NOT NULL DEFAULT '{}';
ALTER TABLE menu_categories ADD COLUMN translations TEXT NOT NULL DEFAULT '{}';
