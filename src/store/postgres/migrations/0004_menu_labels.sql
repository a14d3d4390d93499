-- PostgreSQL migration 4: allergens, 원산지 and translations of menu items (one JSON column),
-- and translated category names.
ALTER TABLE menus ADD COLUMN IF NOT EXISTS labels TEXT NOT NULL DEFAULT '{}';
ALTER TABLE menu_categories ADD COLUMN IF NOT EXISTS translations TEXT NOT NULL DEFAULT '{}';
