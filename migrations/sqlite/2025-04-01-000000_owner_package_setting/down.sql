DROP TABLE owner_package_setting;
